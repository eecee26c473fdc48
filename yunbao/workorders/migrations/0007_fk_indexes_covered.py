"""Drop the single-column indexes of three foreign keys that a two-column index already
serves: workorder (unit, status) and (worker, status), timeline entry (order, at).

A DROP INDEX, not Django's AlterField: on SQLite that rebuilds the whole order table."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0002_roles"),
        ("workorders", "0006_warn_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations: list[migrations.operations.base.Operation] = [
        migrations.AlterField(
            model_name="timelineentry",
            name="order",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="timeline",
                to="workorders.workorder",
                verbose_name="order",
            ),
        ),
        migrations.AlterField(
            model_name="workorder",
            name="unit",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="orders",
                to="org.unit",
                verbose_name="responsible unit",
            ),
        ),
        migrations.AlterField(
            model_name="workorder",
            name="worker",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="assigned_orders",
                to=settings.AUTH_USER_MODEL,
                verbose_name="worker",
            ),
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=state_operations,
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    reverse_sql=f"CREATE INDEX {name} ON {table} ({column})",
                )
                for name, table, column in (
                    (
                        "workorders_timelineentry_order_id_d580f7a1",
                        "workorders_timelineentry",
                        "order_id",
                    ),
                    ("workorders_workorder_unit_id_479b0f27", "workorders_workorder", "unit_id"),
                    (
                        "workorders_workorder_worker_id_1e01c670",
                        "workorders_workorder",
                        "worker_id",
                    ),
                )
            ],
        )
    ]
