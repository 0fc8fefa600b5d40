"""GCJ-02 and BD-09 converted to WGS-84 against published pairs and within half a metre."""
from __future__ import annotations

import prcoords
import pytest

from service.geo import from_wgs84, to_wgs84
from service.placement import distance_m

# Published pairs, all as (lat, lon).
#
# googollee/eviltransform, python/test.py (TESTS): WGS-84 -> GCJ-02 computed with the public GCJ-02 formula.
# WGS-84 is given to 7 decimals (about 1 cm), GCJ-02 to 14, so the exact inverse must land within a few
# centimetres: tolerance 0.05 m.
EVILTRANSFORM_WGS_GCJ = {
    "shanghai": ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    "shenzhen": ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    "beijing": ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
}
EVILTRANSFORM_TOLERANCE_M = 0.05

# hujiulong/gcoord, test/fixtures/china-cities.json: the same city in WGS84, GCJ02 and BD09 ([lon, lat] there),
# 7 decimals. Its WGS-84 column sits 0.65-0.7 m from the public formula at every city (gcoord's own tests only
# compare 4 decimals, about 5 m), so the tolerance is 1.0 m: still far below the 300-700 m GCJ-02 shift and the
# ~1 km BD-09 shift, which any real mistake would show. Its GCJ02 and BD09 columns agree with each other to a
# centimetre, so converting either must give the same WGS-84 point within 0.05 m.
GCOORD_WGS_GCJ_BD = {
    "taizhou_jiangsu": ((32.4580023, 119.9183831), (32.4557802, 119.9231242), (32.4615531, 119.9296902)),
    "tongling_anhui": ((30.9477988, 117.8059091), (30.9455211, 117.8112693), (30.9515411, 117.8177498)),
    "jinhua_zhejiang": ((29.0820414, 119.6427465), (29.0790641, 119.6474509), (29.0854003, 119.6538875)),
    "shenyang_liaoning": ((41.8032629, 123.4253306), (41.8057023, 123.4314787), (41.8114013, 123.438095)),
}
GCOORD_TOLERANCE_M = 1.0
SAME_POINT_TOLERANCE_M = 0.05

# Alibaba Cloud address-purification API, TransferCoord example response (Hangzhou, Yuhang), 6 decimals:
# https://help.aliyun.com/zh/address-purification/addrpapi/developer-reference/coordinate-system-conversion
# GCJ02 "120.026268,30.279164" -> BD09 "120.032768,30.285238", WGS84 "120.021519,30.281543".
# 6 decimals is about 0.1 m per axis, so BD-09 and GCJ-02 must give the same WGS-84 point within 0.15 m. Its WGS84
# is a one-step inverse (it matches prcoords.gcj_wgs to 4 cm), which is why it is about 1.7 m off the exact one.
ALIYUN_GCJ = (30.279164, 120.026268)
ALIYUN_BD = (30.285238, 120.032768)
ALIYUN_ONE_STEP_WGS = (30.281543, 120.021519)
ALIYUN_TOLERANCE_M = 0.15

# wandergis/coordtransform, test/app.js: bd09togcj02(116.404, 39.915) -> [116.39762729119315, 39.90865673957631]
# (Beijing), full precision. The BD-09 inverse stops once its correction is under 1e-5 degree (prcoords' PRC_EPS),
# which leaves a few centimetres there (4.7 cm), so BD-09 and GCJ-02 must give the same WGS-84 point within 0.1 m.
COORDTRANSFORM_BD = (39.915, 116.404)
COORDTRANSFORM_GCJ = (39.90865673957631, 116.39762729119315)
COORDTRANSFORM_TOLERANCE_M = 0.1

# Chongchuan, the community's district: a grid of WGS-84 points 0.01 degree (about 1 km) apart
CHONGCHUAN_GRID = [(round(31.95 + 0.01 * i, 2), round(120.78 + 0.01 * j, 2)) for i in range(14) for j in range(18)]
ROUND_TRIP_TOLERANCE_M = 0.5


@pytest.mark.parametrize("city", EVILTRANSFORM_WGS_GCJ)
def test_gcj02_point_converts_to_the_published_wgs84_point(city):
    wgs, gcj = EVILTRANSFORM_WGS_GCJ[city]
    assert distance_m(gcj, wgs) > 300  # the pair really is shifted, so the check below means something
    assert distance_m(to_wgs84(*gcj, "gcj02"), wgs) < EVILTRANSFORM_TOLERANCE_M


@pytest.mark.parametrize("city", EVILTRANSFORM_WGS_GCJ)
def test_wgs84_point_converts_to_the_published_gcj02_point_for_the_map_apps(city):
    wgs, gcj = EVILTRANSFORM_WGS_GCJ[city]
    assert distance_m(from_wgs84(*wgs, "gcj02"), gcj) < EVILTRANSFORM_TOLERANCE_M


@pytest.mark.parametrize("city", GCOORD_WGS_GCJ_BD)
def test_wgs84_point_converts_to_the_published_gcj02_and_bd09_points(city):
    wgs, gcj, bd = GCOORD_WGS_GCJ_BD[city]
    # gcoord's WGS-84 column is 0.65-0.7 m off the public formula (see above): the same tolerance going out
    assert distance_m(from_wgs84(*wgs, "gcj02"), gcj) < GCOORD_TOLERANCE_M
    assert distance_m(from_wgs84(*wgs, "bd09"), bd) < GCOORD_TOLERANCE_M


def test_out_and_back_across_chongchuan_is_within_half_a_metre_and_wgs84_or_abroad_is_unchanged():
    for system in ("gcj02", "bd09"):
        assert max(distance_m(to_wgs84(*from_wgs84(*p, system), system), p) for p in CHONGCHUAN_GRID) < 0.5
    assert from_wgs84(32.015, 120.86, "wgs84") == (32.015, 120.86)
    assert from_wgs84(48.8584, 2.2945, "gcj02") == (48.8584, 2.2945)  # Paris: no shift outside China
    with pytest.raises(ValueError):
        from_wgs84(32.015, 120.86, "bd09mc")


@pytest.mark.parametrize("city", GCOORD_WGS_GCJ_BD)
def test_gcj02_and_bd09_points_convert_to_the_published_wgs84_point(city):
    wgs, gcj, bd = GCOORD_WGS_GCJ_BD[city]
    from_gcj, from_bd = to_wgs84(*gcj, "gcj02"), to_wgs84(*bd, "bd09")

    assert distance_m(bd, wgs) > 800
    assert distance_m(from_gcj, wgs) < GCOORD_TOLERANCE_M
    assert distance_m(from_bd, wgs) < GCOORD_TOLERANCE_M
    assert distance_m(from_gcj, from_bd) < SAME_POINT_TOLERANCE_M


def test_baidu_and_amap_coordinates_of_one_published_point_convert_to_the_same_wgs84_point():
    assert distance_m(to_wgs84(*ALIYUN_BD, "bd09"), to_wgs84(*ALIYUN_GCJ, "gcj02")) < ALIYUN_TOLERANCE_M
    from_bd = to_wgs84(*COORDTRANSFORM_BD, "bd09")
    assert distance_m(from_bd, to_wgs84(*COORDTRANSFORM_GCJ, "gcj02")) < COORDTRANSFORM_TOLERANCE_M
    assert distance_m(from_bd, COORDTRANSFORM_BD) > 800


def test_published_one_step_answer_misses_where_ours_encodes_back_to_the_same_gcj02_point():
    ours = to_wgs84(*ALIYUN_GCJ, "gcj02")
    assert distance_m(prcoords.wgs_gcj(ours), ALIYUN_GCJ) < 0.01
    assert distance_m(prcoords.wgs_gcj(ALIYUN_ONE_STEP_WGS), ALIYUN_GCJ) > 1.0
    assert distance_m(ours, ALIYUN_ONE_STEP_WGS) > 1.0


def test_gcj02_round_trip_across_chongchuan_is_within_half_a_metre():
    worst = max(distance_m(to_wgs84(*prcoords.wgs_gcj(p), "gcj02"), p) for p in CHONGCHUAN_GRID)
    assert worst < ROUND_TRIP_TOLERANCE_M


def test_bd09_round_trip_across_chongchuan_is_within_half_a_metre():
    worst = max(distance_m(to_wgs84(*prcoords.wgs_bd(p), "bd09"), p) for p in CHONGCHUAN_GRID)
    assert worst < ROUND_TRIP_TOLERANCE_M


def test_one_step_inverse_would_miss_half_a_metre_in_chongchuan_which_is_why_we_iterate():
    # prcoords.gcj_wgs subtracts the shift measured at the GCJ-02 point instead of at the unknown WGS-84 one;
    # in Chongchuan that leaves up to about 1.5 m.
    misses = [distance_m(prcoords.gcj_wgs(prcoords.wgs_gcj(p)), p) for p in CHONGCHUAN_GRID]
    assert max(misses) > ROUND_TRIP_TOLERANCE_M
    assert sum(m > ROUND_TRIP_TOLERANCE_M for m in misses) >= len(misses) // 4


def test_wgs84_point_passes_through_unchanged():
    assert to_wgs84(32.015, 120.86, "wgs84") == (32.015, 120.86)
    assert to_wgs84(39.9, 116.4, "wgs84") == (39.9, 116.4)


@pytest.mark.parametrize("system", ["", "gps", "bd09mc", "cgcs2000", "utm51n"])
def test_unknown_coordinate_system_is_refused(system):
    with pytest.raises(ValueError):
        to_wgs84(32.015, 120.86, system)
