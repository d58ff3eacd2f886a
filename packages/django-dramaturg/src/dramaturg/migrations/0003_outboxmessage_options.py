from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("dramaturg", "0002_operator_actions_and_bulk"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="options",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
