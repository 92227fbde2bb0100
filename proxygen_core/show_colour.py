"""A show's colour pipeline: its facility OCIO config (with its display and view) and its named looks.

Why on the ground floor: the settings refuse, at load, a show config that is a path or a built-in ``ocio://``
name when its display, view, the working space or a look the show names is not in it, so a typo is one clear
line at start-up, not a night of failed clips. A config in the bucket (``s3://<bucket>/<key>``) can only be
checked when it is first used: the plan fetches it (colour/grades.py's neighbours do the applying) and that
show's clips fail, naming the object and the cause, while other shows go on.

``PROXYGEN_SHOW_CONFIGS``: ``show=config[|display|view[|hdr_display|hdr_view]];...`` (display and view default to
the render settings' ``proxy_display`` and ``view``, the PQ display and view of the ``hdr_pq`` profile to their
``hdr_display`` and ``hdr_view``; those are checked only when an HDR profile is enabled). ``PROXYGEN_LOOKS``:
``show=Look;...``, ``*=Look`` for every show without its own entry; a value is an OCIO looks string
(``A, +B, -C``). Both only concern the clips of image sequences (the frames keep the render settings' config,
display and view).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

ANY_SHOW = "*"


@dataclass(frozen=True)
class ShowColour:
    """What a show's clips are rendered through (empty fields: the render settings')."""

    config: str | None = None  # a path, an ocio:// name or s3://<bucket>/<key>
    display: str | None = None
    view: str | None = None
    looks: str | None = None  # an OCIO looks string applied after the grade, before the display/view
    hdr_display: str | None = None  # the PQ display of the hdr_pq profile in this config
    hdr_view: str | None = None

    @property
    def in_bucket(self) -> bool:
        return bool(self.config and self.config.startswith("s3://"))


def _pairs(text: str, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (p.strip() for p in re.split(r"[;\n]", text) if p.strip()):
        show, sep, value = part.partition("=")
        if not sep or not show.strip() or not value.strip():
            raise ValueError(f"{part!r}: want show=value ({name})")
        out[show.strip()] = value.strip()
    return out


ConfigEntry = tuple[str, str | None, str | None, str | None, str | None]


def parse_show_configs(text: str) -> dict[str, ConfigEntry]:
    """``show=config|display|view|hdr_display|hdr_view;...`` -> show -> (config, display, view, hdr_display,
    hdr_view), each after the config None when not given."""
    out: dict[str, ConfigEntry] = {}
    for show, value in _pairs(text, "show=config|display|view|hdr_display|hdr_view").items():
        parts = [p.strip() for p in value.split("|")]
        if len(parts) > 5 or not parts[0]:
            raise ValueError(f"{show}={value!r}: want config|display|view|hdr_display|hdr_view (all but the config "
                             "optional)")
        parts += [""] * (5 - len(parts))
        out[show] = (parts[0], parts[1] or None, parts[2] or None, parts[3] or None, parts[4] or None)
    return out


def parse_looks(text: str) -> dict[str, str]:
    """``show=Look;*=Look`` -> show -> OCIO looks string."""
    return _pairs(text, "show=Look, *=Look for every other show")


def look_names(looks: str) -> list[str]:
    """The look names of an OCIO looks string (``A, +B, -C`` -> A, B, C)."""
    return [p.strip().lstrip("+-").strip() for p in looks.split(",") if p.strip().lstrip("+-").strip()]


def show_colour(show: str | None, configs: str, looks: str) -> ShowColour:
    """The show's config, display, view and looks from the two settings' texts."""
    config = parse_show_configs(configs).get(show or "") if configs else None
    named = parse_looks(looks) if looks else {}
    look = named.get(show or "", named.get(ANY_SHOW))
    path, display, view, hdr_display, hdr_view = config or (None, None, None, None, None)
    return ShowColour(path, display, view, look, hdr_display, hdr_view)


def check_display(config_obj: object, where: str, display: str, view: str) -> None:
    """Refuse a config that lacks the display or the view on it: ValueError naming what it has."""
    cfg = config_obj
    displays = list(cfg.getDisplays())  # type: ignore[attr-defined]
    if display not in displays:
        raise ValueError(f"{where}: display {display!r} is not in the config (displays: {', '.join(displays)})")
    views = list(cfg.getViews(display))  # type: ignore[attr-defined]
    if view not in views:
        raise ValueError(f"{where}: view {view!r} is not on display {display!r} (views: {', '.join(views)})")


def check_hdr(config_obj: object, where: str, display: str, view: str) -> None:
    """The PQ display and view of the hdr_pq profile: in the config, and a display whose name says PQ (the
    graphics levels and the quality metric are chosen by it: profiles.py ``is_pq``)."""
    from proxygen_core.profiles import is_pq

    check_display(config_obj, where, display, view)
    if not is_pq(display):
        raise ValueError(f"{where}: HDR display {display!r} is not a PQ display by its name (PQ or ST2084 in it): "
                         "the hdr_pq profile tags and measures ST 2084")


def check_hdr_at_load(config: str, display: str, view: str) -> None:
    """The render config has the hdr_pq profile's display and view (when the profile is enabled)."""
    check_hdr(load_config(config), f"config {config}", display, view)


def check_config(config_obj: object, where: str, display: str, view: str, working: str,
                 looks: list[str], hdr: tuple[str, str] | None = None) -> None:
    """Refuse a config (a PyOpenColorIO Config) that lacks the display, the view on it, the working space, a
    look, or (``hdr``: an HDR profile is enabled) the PQ display and view: ValueError naming what is missing
    and what the config has."""
    cfg = config_obj
    check_display(cfg, where, display, view)
    if hdr is not None:
        check_hdr(cfg, where, *hdr)
    if cfg.getColorSpace(working) is None:  # type: ignore[attr-defined]
        raise ValueError(f"{where}: working colour space {working!r} is not in the config")
    known = [lk.getName() for lk in cfg.getLooks()]  # type: ignore[attr-defined]
    for name in looks:
        if name not in known:
            raise ValueError(f"{where}: look {name!r} is not in the config (looks: {', '.join(known) or 'none'})")


def load_config(where: str) -> object:
    """A path or ocio:// config as PyOpenColorIO loads it; ValueError with OCIO's reason."""
    import PyOpenColorIO as ocio

    try:
        return ocio.Config.CreateFromFile(where)
    except Exception as exc:
        raise ValueError(f"{where}: cannot load OCIO config: {exc}") from None


def check_at_load(configs: str, looks: str, default_config: str, default_display: str, default_view: str,
                  working: str, hdr: tuple[str, str] | None = None) -> None:
    """The settings' load-time check: every show config that is a path or ocio:// name has its display, view,
    the working space, its show's looks and (``hdr``: the defaults, when an HDR profile is enabled) its PQ
    display and view; looks for shows without a config are in the default config."""
    table = parse_show_configs(configs) if configs else {}
    named = parse_looks(looks) if looks else {}
    loaded: dict[str, object] = {}
    for show in sorted({*table, *named}):
        colour = show_colour(show, configs, looks) if show != ANY_SHOW else ShowColour(looks=named[ANY_SHOW])
        config = colour.config or default_config
        if colour.in_bucket:
            continue  # checked at first use (the plan fetches it)
        if config not in loaded:
            loaded[config] = load_config(config)
        show_hdr = (colour.hdr_display or hdr[0], colour.hdr_view or hdr[1]) if hdr is not None else None
        check_config(loaded[config], f"show {show!r} config {config}", colour.display or default_display,
                     colour.view or default_view, working, look_names(colour.looks or ""), show_hdr)
