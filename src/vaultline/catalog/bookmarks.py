"""Job bookmarks: what each source of a pipeline has already delivered into committed outputs.

A run reads its sources' bookmarks before planning them (files already delivered are skipped; a table
is read above the last committed maximum of its monotonic column) and `advance` moves them inside the
transaction that commits the run's outputs: a run that dies before that commit leaves the bookmark
where it was, so its rerun reads the same input again and nothing is skipped or delivered twice.

A reset (`vaultline bookmarks reset`, `vaultline run --reset-bookmark`) forgets nothing by itself: it
marks the bookmark (or, for the run's flag, only that run plans as if it were marked). A marked
bookmark reads as empty, so the next run reads the source from the start, replaces the outputs it
would have appended to, and its commit forgets the old files and watermark in the same transaction.
A reset followed by a failed run leaves the mark, never an empty bookmark the next run would append
everything again from. The migrations `0003_governance` and `0004_bookmark_reset` create the tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from vaultline.catalog.dataset_records import now
from vaultline.catalog.schema import CatalogHandle, catalog_failure, for_writing, reading
from vaultline.errors import RetryableError, TerminalError

metadata = sa.MetaData()
bookmarks = sa.Table(
    "vaultline_bookmarks",
    metadata,
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("column_name", sa.String(128)),
    sa.Column("watermark", sa.Text),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("reset_pending", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint("pipeline", "source", name="pk_vaultline_bookmarks"),
    sa.CheckConstraint("kind IN ('files', 'column')", name="ck_vaultline_bookmarks_kind"),
)
bookmark_files = sa.Table(
    "vaultline_bookmark_files",
    metadata,
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("location", sa.String(1024), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.PrimaryKeyConstraint("pipeline", "source", "location", name="pk_vaultline_bookmark_files"),
)


class BookmarkConflict(RetryableError):
    """Another run advanced the bookmark after this run read it: this run's output would repeat input."""


@dataclass(frozen=True)
class SourceBookmark:
    """What one source has delivered so far, as a run reads it before planning the source."""

    source: str
    kind: str
    run_id: str | None
    """The run that last advanced it (None: never advanced); the commit checks it did not change."""
    files: frozenset[str] = frozenset()
    watermark: Watermark | None = None
    reset: bool = False
    """Reset and not yet redelivered: read as empty, and the commit replaces what it held."""

    def __repr__(self) -> str:  # the watermark may be a data value: never shown
        return f"SourceBookmark({self.source!r}, kind={self.kind!r}, files={len(self.files)})"


@dataclass(frozen=True)
class Watermark:
    """The newest value of a monotonic column that committed runs read, as text plus its SQL type.

    A data value (a timestamp, an id): never printed, logged or put in an error."""

    value: str = field(repr=False)
    sql_type: str

    def as_json(self) -> str:
        return json.dumps({"value": self.value, "sql_type": self.sql_type}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Watermark:
        document = json.loads(text)
        return cls(str(document["value"]), str(document["sql_type"]))


@dataclass(frozen=True)
class Advance:
    """How a run moves one source's bookmark when its outputs commit."""

    source: str
    kind: str
    expected_run_id: str | None
    new_files: tuple[tuple[str, str], ...] = ()
    """(location, sha256) of every file this run read."""
    column: str | None = None
    watermark: Watermark | None = None
    replace: bool = False
    """The bookmark was reset: forget its files and watermark, keep only this run's."""


@dataclass(frozen=True)
class BookmarkSummary:
    pipeline: str
    source: str
    kind: str
    column: str | None
    files: int
    watermark_set: bool
    reset_pending: bool
    run_id: str
    updated_at: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class BookmarkCatalog(CatalogHandle):
    """Job bookmarks in the catalog at `url`."""

    def read(self, pipeline: str, source: str, kind: str, column: str | None = None) -> SourceBookmark:
        with reading(self.engine, self.url, f"reading the bookmark of {pipeline}.{source}") as conn:
            row = conn.execute(
                sa.select(bookmarks).where(bookmarks.c.pipeline == pipeline, bookmarks.c.source == source)
            ).first()
            if row is None:
                return SourceBookmark(source, kind, None)
            if row.reset_pending:
                return SourceBookmark(source, kind, row.run_id, reset=True)
            if row.kind != kind:
                raise TerminalError(
                    f"the bookmark of source {source} of pipeline {pipeline} was kept by {row.kind}, "
                    f"the spec now reads it by {kind}",
                    hint=f"reset it: vaultline bookmarks reset {pipeline} --source {source}",
                )
            if column is not None and row.column_name is not None and row.column_name != column:
                # the old column's watermark says nothing of the new one: rows would be lost or repeated
                raise TerminalError(
                    f"the bookmark of source {source} of pipeline {pipeline} is a watermark of column "
                    f"{row.column_name}, the spec now reads above column {column}",
                    hint=f"reset it (the next run reads the source whole and replaces the outputs): "
                    f"vaultline bookmarks reset {pipeline} --source {source}",
                )
            files = frozenset(
                conn.scalars(
                    sa.select(bookmark_files.c.location).where(
                        bookmark_files.c.pipeline == pipeline, bookmark_files.c.source == source
                    )
                )
            )
            mark = Watermark.from_json(row.watermark) if row.watermark else None
            return SourceBookmark(source, kind, row.run_id, files, mark)

    def list(self, pipeline: str | None = None) -> list[BookmarkSummary]:
        counts = (
            sa.select(bookmark_files.c.pipeline, bookmark_files.c.source, sa.func.count().label("files"))
            .group_by(bookmark_files.c.pipeline, bookmark_files.c.source)
            .subquery()
        )
        query = (
            sa.select(bookmarks, sa.func.coalesce(counts.c.files, 0).label("files"))
            .join(
                counts,
                sa.and_(counts.c.pipeline == bookmarks.c.pipeline, counts.c.source == bookmarks.c.source),
                isouter=True,
            )
            .order_by(bookmarks.c.pipeline, bookmarks.c.source)
        )
        if pipeline is not None:
            query = query.where(bookmarks.c.pipeline == pipeline)
        with reading(self.engine, self.url, "listing bookmarks") as conn:
            return [
                BookmarkSummary(
                    r.pipeline,
                    r.source,
                    r.kind,
                    r.column_name,
                    int(r.files),
                    r.watermark is not None,
                    bool(r.reset_pending),
                    r.run_id,
                    r.updated_at,
                )
                for r in conn.execute(query)
            ]

    def reset(self, pipeline: str, source: str | None = None) -> int:
        """Mark `pipeline`'s bookmarks (one source's, or all) reset: the next run reads those sources from
        the start and its commit replaces what they held. Returns how many were marked."""
        where = [bookmarks.c.pipeline == pipeline]
        if source is not None:
            where.append(bookmarks.c.source == source)
        try:
            with for_writing(self.engine).begin() as conn:
                marked = conn.execute(bookmarks.update().where(*where).values(reset_pending=True)).rowcount
        except sa.exc.SQLAlchemyError as exc:
            raise catalog_failure(self.url, exc, f"resetting the bookmarks of {pipeline}") from None
        return int(marked or 0)


def advance(conn: sa.Connection, pipeline: str, run_id: str, moves: Sequence[Advance]) -> None:
    """Move bookmarks inside the caller's transaction (the one that commits the run's outputs), so data
    and bookmark advance together. A bookmark another run advanced since this run read it raises
    `BookmarkConflict` and the caller's transaction (outputs included) rolls back."""
    stamp = now()
    for move in moves:
        key = (bookmarks.c.pipeline == pipeline, bookmarks.c.source == move.source)
        current = conn.execute(sa.select(bookmarks.c.run_id).where(*key).with_for_update()).first()
        if (current.run_id if current else None) != move.expected_run_id:
            raise BookmarkConflict(
                f"another run advanced the bookmark of source {move.source} of pipeline {pipeline} while "
                "this run was processing the same input",
                hint="nothing of this run was committed; run it again to process only the input still new",
            )
        values = {
            "kind": move.kind, "column_name": move.column, "run_id": run_id, "updated_at": stamp,
            "watermark": move.watermark.as_json() if move.watermark else None, "reset_pending": False,
        }  # fmt: skip
        if current is None:
            conn.execute(bookmarks.insert().values(pipeline=pipeline, source=move.source, **values))
        else:
            if move.replace:
                conn.execute(
                    bookmark_files.delete().where(
                        bookmark_files.c.pipeline == pipeline, bookmark_files.c.source == move.source
                    )
                )
            else:
                values.pop("reset_pending")  # a reset marked after this run read the bookmark stays
                if move.watermark is None:
                    values.pop("watermark")  # nothing new read: keep the last committed maximum
            conn.execute(bookmarks.update().where(*key).values(**values))
        if move.new_files:
            try:
                conn.execute(
                    bookmark_files.insert(),
                    [
                        {
                            "pipeline": pipeline,
                            "source": move.source,
                            "location": loc,
                            "sha256": sha,
                            "run_id": run_id,
                        }
                        for loc, sha in move.new_files
                    ],
                )
            except sa.exc.IntegrityError:
                raise BookmarkConflict(
                    f"another run already delivered some of the files of source {move.source} of pipeline "
                    f"{pipeline}",
                    hint="nothing of this run was committed; run it again to process the files still new",
                ) from None
