"""One Django group per role, with the role's model permissions (see yunbao.org.permissions)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from yunbao.org.permissions import ensure_roles

    # `apps=apps`: ensure_roles first creates the permission rows of the models migrated so
    # far (Django itself creates them only after the last migration), so the work-order
    # permissions exist here; the dependency on workorders.0001 makes sure those models do.
    ensure_roles(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        apps.get_model("contenttypes", "ContentType"),
        apps=apps,
        using=schema_editor.connection.alias,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0001_initial"),
        ("workorders", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    # Reversing keeps the groups: people may already belong to them.
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
