"""Load the shipped standard catalogue (yunbao/catalog/data/catalog.json)."""

from django.db import migrations


def load(apps, schema_editor):
    # Imported here so that importing the migration module stays cheap; the loader works
    # with the historical models passed in, not with today's model classes.
    from yunbao.catalog.loader import load_catalog

    load_catalog(
        scene_model=apps.get_model("catalog", "Scene"),
        category_model=apps.get_model("catalog", "Category"),
        limit_model=apps.get_model("catalog", "TimeLimit"),
    )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    # Reversing keeps the rows: orders may already point at these categories.
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
