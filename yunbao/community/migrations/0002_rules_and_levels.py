"""The starting point rules and levels (editable in the admin afterwards)."""

from typing import Any

from django.db import migrations


def seed(apps: Any, schema_editor: Any) -> None:
    # The historical models are passed in, so later model changes do not break this step.
    from yunbao.community.defaults import seed as seed_defaults

    seed_defaults(apps.get_model("community", "PointRule"), apps.get_model("community", "Level"))


class Migration(migrations.Migration):
    dependencies = [("community", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
