"""Loading the district from its files (`flask --app service.web district load`): twice is harmless; a redrawn
grid or boundary is a new generation from the moment it is loaded, while every case keeps the grid it was
dispatched to and last week's report rebuilds unchanged; files that cannot be right are refused, naming why.
Each test has a database and a copy of config/district/ of its own."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from images import photo_jpeg
from support import DEMO_PASSWORD, make_settings

from service.cases import ReportForm, take_report
from service.db import Database, upgrade_schema, utcnow
from service.models import Case, CommunityBoundary, Grid, User
from service.pipeline import PipelineRules, process_case
from service.web import create_app
from service.weekly import Week, build_weekly_report, kept_report

DISTRICT = Path(__file__).resolve().parent.parent / "config" / "district"
TZ = "Asia/Shanghai"


@pytest.fixture
def own(tmp_path, redis_url):
    """An app on a fresh SQLite database, loaded from a copy of the demo district's files (`files`)."""
    files = tmp_path / "district"
    shutil.copytree(DISTRICT, files)
    url = f"sqlite:///{tmp_path / 'own.db'}"
    upgrade_schema(url)
    app = create_app(make_settings(tmp_path, url, redis_url, district_dir=files, demo_password=DEMO_PASSWORD))
    app.files = files
    app.cli_run = lambda *args: app.test_cli_runner().invoke(args=list(args))
    loaded = app.cli_run("district", "load")
    assert loaded.exit_code == 0, loaded.output
    yield app
    app.extensions["snap"].db.dispose()


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _session(app):
    return app.extensions["snap"].db.session()


def test_loading_the_same_files_again_changes_nothing(own):
    with _session(own) as s:
        before = (s.scalar(sa.select(sa.func.count(Grid.id))), s.scalar(sa.select(sa.func.count(CommunityBoundary.id))),
                  s.scalar(sa.select(sa.func.count(User.id))))
    again = own.cli_run("district", "load")
    assert again.exit_code == 0, again.output
    assert "70 grids" in again.output and "0 boundaries or grids drawn anew, 0 retired" in again.output
    assert own.cli_run("community", "load").exit_code == 0  # the command's former name still works
    with _session(own) as s:
        after = (s.scalar(sa.select(sa.func.count(Grid.id))), s.scalar(sa.select(sa.func.count(CommunityBoundary.id))),
                 s.scalar(sa.select(sa.func.count(User.id))))
    assert before == after == (70, 8, after[2])


def _split_hq03_drop_hq05(data: dict) -> None:
    """HQ03 cut in two down the middle (its west half keeps the code, the east half is HQ13); HQ05 removed."""
    features = []
    for f in data["features"]:
        code = f["properties"]["code"]
        if code == "HQ05":
            continue
        if code == "HQ03":
            ring = f["geometry"]["coordinates"][0]
            west, east = min(p[0] for p in ring), max(p[0] for p in ring)
            south, north = min(p[1] for p in ring), max(p[1] for p in ring)
            middle = round((west + east) / 2, 6)
            f["geometry"] = _box(west, south, middle, north)
            features.append(f)
            features.append({"type": "Feature", "properties": {**f["properties"], "code": "HQ13",
                                                                "name": "虹桥第13网格·北路东片"},
                             "geometry": _box(middle, south, east, north)})
            continue
        features.append(f)
    data["features"] = features


def _box(west, south, east, north) -> dict:
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}


def _shrink_north(feature: dict) -> None:
    ring = feature["geometry"]["coordinates"][0]
    north = max(p[1] for p in ring)
    feature["geometry"]["coordinates"][0] = [[x, round(y - 0.001, 6) if y == north else y] for x, y in ring]


def _report_at(app, lat: float, lon: float, seed: int) -> Case:
    """A rider's report there, taken in and put through the pipeline as the app and the photo worker do."""
    svc = app.extensions["snap"]
    with svc.db.session() as s:
        rider = s.scalar(sa.select(User).where(User.username == "rider1"))
        form = ReportForm(category="B0118", lat=str(lat), lon=str(lon))
        case = take_report(s, svc.photos, rider, form, [io.BytesIO(photo_jpeg(seed=seed))], svc.limits,
                           svc.district.fresh(s), TZ).case
        process_case(s, svc.photos, svc.district.fresh(s), PipelineRules.from_settings(svc.settings), case.id)
        s.refresh(case)
        s.expunge(case)
        return case


def test_redrawn_grids_and_boundaries_are_new_generations_and_last_weeks_report_rebuilds_unchanged(own):
    week = Week.containing(utcnow(), TZ).shifted(-1)
    made = own.cli_run("demo", "week", "--week", week.name, "--cases", "160", "--seed", "11")
    assert made.exit_code == 0, made.output
    db = Database(own.extensions["snap"].settings.database_url)
    with db.session() as s:
        before = kept_report(s, week.name).data
        placed = {c.case_no: (c.grid_id, c.grid.code if c.grid else None, c.grid.name if c.grid else None,
                              c.community_id) for c in s.scalars(sa.select(Case))}
        hq03 = s.scalar(sa.select(Grid).where(Grid.code == "HQ03"))
        in_east_half = hq03.polygon["coordinates"][0][1]  # its south-east corner, nudged inside below
    assert sum(1 for g in placed.values() if g[1] in ("HQ03", "HQ05")) > 0  # cases the change could disturb

    _edit(own.files / "communities" / "hqsq" / "grids.geojson", _split_hq03_drop_hq05)
    _edit(own.files / "communities" / "tysq" / "boundary.geojson", _shrink_north)
    reloaded = own.cli_run("district", "load")
    assert reloaded.exit_code == 0, reloaded.output
    assert "3 boundaries or grids drawn anew, 3 retired" in reloaded.output  # HQ03, HQ13, tysq; HQ03, HQ05, tysq

    with db.session() as s:
        current = {g.code for g in s.scalars(sa.select(Grid).where(Grid.retired_at.is_(None)))}
        assert "HQ13" in current and "HQ05" not in current and "HQ03" in current
        assert s.scalar(sa.select(sa.func.count()).select_from(CommunityBoundary)) == 9  # tysq's old one kept
        for case in s.scalars(sa.select(Case)):
            grid = case.grid
            was = placed[case.case_no]
            assert (case.grid_id, grid.code if grid else None, grid.name if grid else None, case.community_id) \
                == was, case.case_no
        retired = {g.code for g in s.scalars(sa.select(Grid).where(Grid.retired_at.is_not(None)))}
        assert retired == {"HQ03", "HQ05"}
        rebuilt = build_weekly_report(s, week, TZ, utcnow()).data
    for key in ("built_at",):
        before.pop(key), rebuilt.pop(key)
    assert rebuilt == before
    db.dispose()

    # from now on the new polygons apply: HQ05's ground is in no grid, HQ03's east half is HQ13
    east = _report_at(own, in_east_half[1] + 0.0005, in_east_half[0] - 0.0005, seed=91)
    assert east.state == "dispatched" and east.grid_id != placed_grid_id(own, "HQ03")
    with _session(own) as s:
        assert s.get(Grid, east.grid_id).code == "HQ13"


def placed_grid_id(app, code: str) -> int:
    with _session(app) as s:
        return s.scalar(sa.select(Grid.id).where(Grid.code == code, Grid.retired_at.is_(None)))


@pytest.mark.parametrize("breakage, says", [
    (lambda files: _edit(files / "communities" / "tysq" / "boundary.geojson",
                         lambda f: f["geometry"]["coordinates"][0].__setitem__(0, [120.83, 32.02])),
     "overlap"),
    (lambda files: _edit(files / "communities" / "hqsq" / "grids.geojson",
                         lambda d: d["features"][0].__setitem__("geometry", _box(120.90, 32.05, 120.91, 32.06))),
     "outside the boundary of hqsq"),
    (lambda files: _edit(files / "communities" / "hqsq" / "grids.geojson",
                         lambda d: d["features"][0]["properties"].__setitem__("grid_worker", "nobody")),
     "unknown grid worker 'nobody'"),
    (lambda files: (files / "communities" / "hqsq" / "grids.geojson").write_text("{not json", encoding="utf-8"),
     "grids.geojson"),
], ids=["boundaries-overlap", "grid-outside-its-community", "unknown-worker", "not-json"])
def test_files_that_cannot_be_right_are_refused_naming_why_and_nothing_changes(own, breakage, says):
    with _session(own) as s:
        grids_before = s.scalar(sa.select(sa.func.count(Grid.id)))
    breakage(own.files)
    refused = own.cli_run("district", "load")
    assert refused.exit_code != 0 and says in refused.output, refused.output
    assert "Traceback" not in refused.output
    with _session(own) as s:
        assert s.scalar(sa.select(sa.func.count(Grid.id))) == grids_before
