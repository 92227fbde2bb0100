"""The daily review: three shots finished today give one playlist movie (slates and gap marks included), one
OTIO timeline in shot order and one HTML page whose every link resolves and which renders in Chromium."""
from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from proxygen_core.catalog import SQLiteCatalog
from proxygen_core.events.schema import build_clip_event
from proxygen_core.media.samples import write_sequence
from proxygen_core.pipeline.dailies import build_daily, day_clips
from proxygen_core.pipeline.folder import render_file, write_sequence_clips
from proxygen_core.settings import Settings
from proxygen_core.store.local import LocalStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def three_shots(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("shots")
    settings = Settings()
    store = LocalStore(tmp_path / "out")
    catalog = SQLiteCatalog(tmp_path / "c.db")
    catalog.ensure()
    for shot, frames in (("sh030", 5), ("sh010", 4), ("sh020", 6)):
        folder = tmp_path / "shows" / "abc" / "sq010" / shot / "comp"
        paths = write_sequence(folder, frames=frames, width=320, height=180, name=f"{shot}_comp_v002")
        if shot == "sh020":
            paths[2].unlink()  # a missing frame: a gap in that shot
        results = [render_file(p, tmp_path / "out", settings, store) for p in paths if p.exists()]
        rows = write_sequence_clips(results, store, settings)
        catalog.write_clips(rows, [build_clip_event(r, "t") for r in rows])
    return settings, store, catalog


@pytest.fixture(scope="module")
def built(three_shots, tmp_path_factory):
    settings, store, catalog = three_shots
    out = tmp_path_factory.mktemp("daily")
    return build_daily(store, catalog, datetime.datetime.now(datetime.UTC).date(), settings, out_dir=out), out


def test_a_day_with_three_shots(three_shots, built, tmp_path):
    import opentimelineio as otio

    settings, store, catalog = three_shots
    today = datetime.datetime.now(datetime.UTC).date()
    daily, out = built
    assert [r.shot for r in daily.shots] == ["sh010", "sh020", "sh030"]  # shot order, not arrival order
    slate = round(settings.pipeline.dailies_slate_seconds * 24)
    with av.open(str(out / "playlist.mp4")) as container:
        cc = container.streams.video[0].codec_context
        assert (cc.width, cc.height, cc.colorspace, cc.color_primaries) == (320, 180, 1, 1)  # the clips' frame
        pictures = sum(1 for _ in container.decode(video=0))
    assert pictures == daily.frames == 3 * slate + 4 + 6 + 5  # sh020's gap is a (marked) picture too
    timeline = otio.adapters.read_from_file(str(out / "playlist.otio"))
    clips = list(timeline.tracks[0])
    assert [c.name for c in clips] == ["sh010", "sh020", "sh030"]
    assert [c.source_range.duration.value for c in clips] == [4, 6, 5]
    assert [m.name for m in clips[1].markers] == ["MISSING 1003"]
    for c in clips:
        assert (out / c.media_reference.target_url).exists()
        assert otio.opentime.to_timecode(c.source_range.start_time, 24) == "00:00:41:17"
    page = (out / "index.html").read_text()
    links = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert len(links) == 2 + 3 * 2  # playlist, timeline; per shot a poster and its review clip
    for link in links:
        assert (out / link).is_file(), link
    assert "missing 1003" in page and "v002" in page
    assert not build_daily(store, catalog, today - datetime.timedelta(days=1), settings, out_dir=tmp_path / "x").shots
    assert [r.shot for r in day_clips(catalog, today, "abc")] == ["sh010", "sh020", "sh030"]  # one show's
    assert not day_clips(catalog, today, "other")


def test_in_the_store_the_otio_names_clips_relative_to_itself_and_the_page_links_the_days_cuts(three_shots):
    """The daily written into the store (the local door: keys are paths under its folder): the OTIO's media
    references are paths relative to it that reach the review clips; the page links the cut pages built on the
    day or showing one of its clips (ok rows only; not a failed cut's, not yesterday's of other clips)."""
    import opentimelineio as otio

    from proxygen_core.editorial.outputs import cut_keys
    from proxygen_core.editorial.record import record_cut
    from proxygen_core.rows import CutRow

    settings, store, catalog = three_shots
    now = datetime.datetime.now(datetime.UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    yesterday = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    pages = {}
    sh020 = next(r for r in catalog.clips() if r.shot == "sh020")
    for name, status, when, shows in (("reel1", "ok", stamp, "s/other.####.exr"),
                                      ("reel2", "failed", stamp, sh020.sequence),
                                      ("reel0", "ok", yesterday, "s/older.####.exr"),
                                      ("reel9", "ok", yesterday, sh020.sequence)):  # built earlier, shows today's
        key = str(store.root / "editorial" / "demo" / f"{name}.edl")
        pages[name] = cut_keys(key, name)["html"]
        written = record_cut(catalog, CutRow(cut_id=f"cut-{name}", cut_key=key, s3_bucket=store.bucket,
                                             output_profile="review", cut_name=name, status=status,
                                             html_s3_key=pages[name], generated_timestamp=when, planned_at=1,
                                             events=json.dumps([{"index": 1, "sequence": shows}])), "t")
        assert written
    for name in ("reel1", "reel9"):
        store.put_bytes(pages[name], f"<html>{name}</html>".encode(), "text/html")
    daily = build_daily(store, catalog, now.date(), settings)
    folder = store.root / ".proxies" / "dailies" / now.date().isoformat()
    assert daily.keys["timeline"] == str(folder / "playlist.otio")
    timeline = otio.adapters.read_from_file(daily.keys["timeline"])
    clips = list(timeline.tracks[0])
    assert [c.name for c in clips] == ["sh010", "sh020", "sh030"]
    by_shot = {r.shot: r for r in daily.shots}
    for c in clips:
        url = c.media_reference.target_url
        assert "://" not in url and not url.startswith("/"), url
        assert url == f"../../../{Path(by_shot[c.name].clip_s3_key).name}"
        target = folder / url
        assert target.is_file() and target.resolve() == Path(by_shot[c.name].clip_s3_key).resolve()
    page = (folder / "index.html").read_text()
    cuts = re.findall(r'<p class="cuts">(.*?)</p>', page)
    assert cuts == [f'Cuts of {now.date().isoformat()}: <a href="../../../editorial/demo/.proxies/'
                    'reel1_cut.html">reel1</a> <a href="../../../editorial/demo/.proxies/reel9_cut.html">reel9</a>']
    assert (folder / "../../../editorial/demo/.proxies/reel1_cut.html").resolve() == Path(pages["reel1"])
    assert "reel2" not in page and "reel0" not in page
    links = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert len(links) == 2 + 3 * 3 + 2  # playlist, timeline; per shot poster, review clip, timeline; the cuts
    for link in links:
        assert (folder / link).is_file(), link


@pytest.mark.slow  # starts headless Chromium
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/bootstrap.sh installs Debian's "
                                              "chromium as root)")
def test_the_page_renders_in_chromium(built, tmp_path):
    out = built[1]
    shot = tmp_path / "dailies.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1300,800",
             "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", f"file://{out / 'index.html'}"], capture_output=True,
                         text=True, timeout=120, check=False).stdout
    assert dom.count('class="card"') == 3 and "Dailies " in dom
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", f"file://{out / 'index.html'}"], capture_output=True,
                   timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_the_daily_partitions_start_with_the_first_day_that_has_clips(three_shots, tmp_path):
    """A stack installed today shows no daily partition before its first clip (the daily definition used to list
    every day since 2026-01-01); the schedule adds the day it finds review clips on, once, and skips the others."""
    import dagster as dg
    from dagster_aws.s3 import S3Resource

    from proxygen_dagster.dailies.assets import build_daily_review
    from proxygen_dagster.dailies.schedules import build_dailies_schedule
    from proxygen_dagster.jobs import build_jobs
    from proxygen_dagster.names import PARTITION, SCHEDULE
    from proxygen_dagster.resources import CatalogResource, MediaStorage

    settings, _, catalog = three_shots
    review = build_daily_review(settings)
    assert isinstance(review.partitions_def, dg.DynamicPartitionsDefinition)
    assert review.partitions_def.name == PARTITION.days
    jobs = build_jobs(settings)
    schedule = build_dailies_schedule(settings, jobs)
    assert (schedule.name, schedule.cron_schedule, schedule.execution_timezone) == (
        SCHEDULE.dailies, f"0 {settings.pipeline.dailies_hour} * * *", "UTC")
    at = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    today = at.date().isoformat()
    storage = MediaStorage(s3=S3Resource(region_name="us-east-1"), bucket="unused")  # the asset's, never called

    def tick(instance, db, when=at):
        """Evaluated as the daemon does: the request resolved against the code location (its partition exists)."""
        catalog = CatalogResource(sqlite_path=str(db))
        repo = dg.Definitions(assets=[review], jobs=[jobs.dailies], schedules=[schedule],
                              resources={"catalog": catalog, "storage": storage}).get_repository_def()
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=repo,
                                       resources={"catalog": catalog}) as ctx:
            return repo.get_schedule_def(SCHEDULE.dailies).evaluate_tick(ctx)

    with dg.instance_for_test() as instance:
        assert instance.get_dynamic_partitions(PARTITION.days) == []  # a fresh instance: nothing to materialize
        before = tick(instance, tmp_path / "no-clips-yet.db")  # installed, no clip finished yet
        assert not before.run_requests and "no review clip finished on" in before.skip_message
        assert instance.get_dynamic_partitions(PARTITION.days) == []
        first = tick(instance, catalog.path)  # three shots finished today
        assert [(r.run_key, r.partition_key) for r in first.run_requests] == [(today, today)]
        assert instance.get_dynamic_partitions(PARTITION.days) == [today]
        assert not tick(instance, catalog.path, at - datetime.timedelta(days=1)).run_requests  # a day without clips
        assert [r.partition_key for r in tick(instance, catalog.path).run_requests] == [today]  # the same day again
        assert instance.get_dynamic_partitions(PARTITION.days) == [today]  # exactly one
