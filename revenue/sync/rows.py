"""Saving the same fields of many rows in one prepared UPDATE."""

from django.db import connection as db
from django.db import models


def update_rows(model: type[models.Model], rows: list, fields: tuple[str, ...]) -> None:
    """Save ``fields`` of each row: one prepared UPDATE run with executemany (psycopg pipelines it).

    Django's bulk_update builds a CASE per field and row, and a QuerySet.update per row spends more
    time building SQL than the database spends running it.
    """
    if not rows:
        return
    model_fields = [model._meta.get_field(name) for name in fields]
    quote = db.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in model_fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), db) for field in model_fields] + [row.pk]
        for row in rows
    ]
    with db.cursor() as cursor:
        cursor.executemany(sql, params)
