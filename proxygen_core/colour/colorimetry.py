"""Colour-difference maths: display code values -> CIELAB -> CIEDE2000 (the LUT bake check and the tests)."""
from __future__ import annotations

import numpy as np

RGB709_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                          [0.2126729, 0.7151522, 0.0721750],
                          [0.0193339, 0.1191920, 0.9503041]])
D65 = np.array([0.95047, 1.0, 1.08883])


def srgb_eotf(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def bt1886_eotf(v: np.ndarray) -> np.ndarray:
    return np.clip(v, 0.0, 1.0) ** 2.4


def lab(display_rgb: np.ndarray, eotf) -> np.ndarray:
    xyz = eotf(np.asarray(display_rgb, dtype=np.float64)) @ RGB709_TO_XYZ.T / D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    L1, a1, b1 = np.moveaxis(lab1, -1, 0)
    L2, a2, b2 = np.moveaxis(lab2, -1, 0)
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cb = (C1 + C2) / 2
    G = 0.5 * (1 - np.sqrt(Cb ** 7 / (Cb ** 7 + 25 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, C2p - C1p
    dh = h2p - h1p
    dh = np.where(C1p * C2p == 0, 0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh / 2))
    Lbp, Cbp = (L1 + L2) / 2, (C1p + C2p) / 2
    hsum = h1p + h2p
    hbp = np.where(
        C1p * C2p == 0,
        hsum,
        np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)),
    )
    T = (1 - 0.17 * np.cos(np.radians(hbp - 30)) + 0.24 * np.cos(np.radians(2 * hbp))
         + 0.32 * np.cos(np.radians(3 * hbp + 6)) - 0.20 * np.cos(np.radians(4 * hbp - 63)))
    dtheta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    Rc = 2 * np.sqrt(Cbp ** 7 / (Cbp ** 7 + 25 ** 7))
    Sl = 1 + 0.015 * (Lbp - 50) ** 2 / np.sqrt(20 + (Lbp - 50) ** 2)
    Sc, Sh = 1 + 0.045 * Cbp, 1 + 0.015 * Cbp * T
    Rt = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh))


def block_means(img: np.ndarray, block: int = 8) -> np.ndarray:
    h, w = (img.shape[0] // block) * block, (img.shape[1] // block) * block
    if h == 0 or w == 0:
        return img.reshape(1, 1, -1, img.shape[-1]).mean(axis=2)
    return img[:h, :w].reshape(h // block, block, w // block, block, -1).mean(axis=(1, 3))


# --- HDR: SMPTE ST 2084 (PQ) and ITU-R BT.2124 deltaE ITP ---------------------------------------------
# CIELAB is a model of SDR reflective colours; on a PQ display the difference is measured in ICtCp
# (BT.2100) as deltaE ITP (BT.2124), where 1.0 is about one just-noticeable difference.
PQ_M1, PQ_M2 = 2610 / 16384, 2523 / 4096 * 128
PQ_C1, PQ_C2, PQ_C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
RGB2020_TO_LMS = np.array([[1688, 2146, 262], [683, 2951, 462], [99, 309, 3688]]) / 4096
LMS_TO_ICTCP = np.array([[2048, 2048, 0], [6610, -13613, 7003], [17933, -17390, -543]]) / 4096


def pq_eotf(code: np.ndarray) -> np.ndarray:
    """PQ code value in [0, 1] -> linear light as a fraction of 10,000 cd/m2."""
    e = np.clip(np.asarray(code, dtype=np.float64), 0.0, 1.0) ** (1 / PQ_M2)
    return (np.maximum(e - PQ_C1, 0.0) / (PQ_C2 - PQ_C3 * e)) ** (1 / PQ_M1)


def pq_inverse_eotf(linear: np.ndarray) -> np.ndarray:
    y = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0) ** PQ_M1
    return ((PQ_C1 + PQ_C2 * y) / (1 + PQ_C3 * y)) ** PQ_M2


def ictcp_from_pq(rgb2020_pq: np.ndarray) -> np.ndarray:
    """PQ-encoded BT.2020 R'G'B' (what a Rec.2100-PQ display receives) -> ICtCp."""
    lms = pq_eotf(rgb2020_pq) @ RGB2020_TO_LMS.T
    return pq_inverse_eotf(lms) @ LMS_TO_ICTCP.T


def delta_e_itp(pq_a: np.ndarray, pq_b: np.ndarray) -> np.ndarray:
    """BT.2124 deltaE ITP between two PQ-encoded BT.2020 R'G'B' colours (T = Ct / 2)."""
    a, b = ictcp_from_pq(pq_a), ictcp_from_pq(pq_b)
    d = a - b
    return 720 * np.sqrt(d[..., 0] ** 2 + (0.5 * d[..., 1]) ** 2 + d[..., 2] ** 2)


def display_difference(display: str):
    """The colour difference of a display's code values: deltaE ITP on PQ displays, else CIEDE2000 in CIELAB
    (sRGB or BT.1886 EOTF). Returns (metric name, function of two code-value arrays)."""
    from proxygen_core.profiles import is_pq

    lowered = display.lower()
    if is_pq(display):
        return "deltaE_ITP", delta_e_itp
    eotf = srgb_eotf if "srgb" in lowered else bt1886_eotf
    return "CIEDE2000", lambda a, b: ciede2000(lab(a, eotf), lab(b, eotf))
