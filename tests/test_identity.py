"""Shot identity from the key template: show, sequence, shot, task, version on rows, events, reports and clips."""
from __future__ import annotations

import pytest

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.settings import PipelineSettings, Settings, load_settings
from proxygen_core.store.identity import ShotIdentity, identify

KEY = "shows/abc/sq010/sh020/comp/sh020_comp_v003.1001.exr"


def test_the_default_template_reads_the_documented_layout():
    assert identify(KEY) == ShotIdentity("abc", "sq010", "sh020", "comp", 3)
    assert identify("abc/sq010/sh020/comp/sh020_comp_v003.####.exr").version == 3  # a sequence's pattern too
    assert identify("renders/sh010/beauty.1001.exr") == ShotIdentity()  # no match: empty, never an error
    assert not identify("renders/sh010/beauty.1001.exr").known


def test_a_custom_template_from_the_settings_changes_it():
    fmt = load_settings(env={"PROXYGEN_KEY_TEMPLATE": "{show}_{shot}_{task}_v{version}.{frame}.{ext}"})
    assert identify("in/abc_sh020_comp_v7.1001.exr", fmt.pipeline.key_template) == ShotIdentity(
        "abc", None, "sh020", "comp", 7)
    regex = r"(?P<show>[^/]+)/(?P<shot>[^/]+)/plates/\w+_v(?P<version>\d+)_\d+\.dpx"
    assert identify("proj/sh5/plates/bg_v12_1001.dpx", regex) == ShotIdentity("proj", None, "sh5", None, 12)
    assert identify(KEY, regex) == ShotIdentity()
    with pytest.raises(ValueError, match="PROXYGEN_KEY_TEMPLATE"):
        load_settings(env={"PROXYGEN_KEY_TEMPLATE": "(?P<show>[unclosed"})


def test_rows_events_and_reports_carry_it(tmp_path):
    from proxygen_core.events.schema import build_event
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.pipeline.folder import render_file
    from proxygen_core.pipeline.record import frame_row
    from proxygen_core.settings import RenderSettings

    row = frame_row(KeyResult(KEY), "frames", RenderSettings(), "review")
    assert (row.show, row.seq, row.shot, row.task, row.version) == ("abc", "sq010", "sh020", "comp", 3)
    body = build_event(row, "t").body
    assert (body["show"], body["seq"], body["shot"], body["task"], body["version"]) == ("abc", "sq010", "sh020",
                                                                                           "comp", 3)
    assert body["project_id"] == "abc" and body["shot_id"] == "sh020"  # the original function's optional fields
    # the local door: an absolute path under the same layout
    src = tmp_path / "abc" / "sq010" / "sh020" / "comp" / "sh020_comp_v003.1001.exr"
    src.parent.mkdir(parents=True)
    write_exr(src, chart(64, 36)[0], CHROMATICITIES["ACEScg"])
    report = render_file(src, tmp_path / "out", Settings()).report()
    assert (report["show"], report["shot"], report["version"]) == ("abc", "sh020", 3)
    custom = Settings(pipeline=PipelineSettings(key_template="{shot}/{task}/{name}.{frame}.{ext}"))
    assert render_file(src, tmp_path / "out2", custom).report()["shot"] == "sh020"
