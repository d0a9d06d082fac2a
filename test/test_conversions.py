"""Tests of ``ss3d_ros.conversions`` on a real TUM RGB-D frame (fr1/xyz, CC BY 4.0, see fixtures' calib.yaml).

Expectations are computed independently of the module under test: OpenCV for colour/grey conversions, integer
arithmetic for 16-bit scaling and millimetre rounding, plain numpy for back-projection and buffer decoding.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, PointField
from std_msgs.msg import Header
from transforms3d.quaternions import quat2mat

from ss3d_ros.conversions import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    camera_info_msg,
    camera_info_to_K,
    depth_to_image_msg,
    image_msg_to_depth_m,
    image_msg_to_rgb8,
    ns_to_stamp,
    odometry_msg,
    pointcloud_msg,
    rgb8_to_image_msg,
    stamp_to_ns,
    transform_msg,
)

FIXTURE = Path(__file__).parent / "fixtures" / "tum_fr1_xyz"
# First frame of the fixture (rgb.txt/depth.txt): TUM timestamp 1305031102.211214 s.
STAMP_SEC, STAMP_NANOSEC = 1305031102, 211214000
FRAME_ID = "camera_optical_frame"
# Extra bytes per row used to exercise `step` handling (odd on purpose: breaks any width*bpp assumption).
ROW_PADDING = 5
UINT16_MAX = 65535
UINT8_MAX = 255
# TUM RGB-D depth PNG: value / depth_scale = metres (5000 in calib.yaml); 1 mm = depth_scale / 1000 PNG units.
PNG_UNITS_PER_MM = 5


def _listed_file(index_name: str) -> Path:
    """The single file listed in a TUM index (rgb.txt / depth.txt) of the fixture."""
    lines = [ln.split() for ln in (FIXTURE / index_name).read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 1
    return FIXTURE / lines[0][1]


@pytest.fixture(scope="module")
def calib() -> dict:
    """calib.yaml of the fixture."""
    return yaml.safe_load((FIXTURE / "calib.yaml").read_text())


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """480×640×3 uint8 RGB frame."""
    bgr = cv2.imread(str(_listed_file("rgb.txt")), cv2.IMREAD_COLOR)
    assert bgr is not None and bgr.shape == (480, 640, 3)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def depth_png() -> np.ndarray:
    """480×640 uint16 TUM depth PNG (0 = invalid)."""
    png = cv2.imread(str(_listed_file("depth.txt")), cv2.IMREAD_UNCHANGED)
    assert png is not None and png.dtype == np.uint16 and png.shape == (480, 640)
    return png


@pytest.fixture(scope="module")
def K(calib) -> np.ndarray:
    """3×3 pixel intrinsics from calib.yaml."""
    return np.array([[calib["fx"], 0.0, calib["cx"]], [0.0, calib["fy"], calib["cy"]], [0.0, 0.0, 1.0]])


def _header(frame_id: str = FRAME_ID) -> Header:
    return Header(stamp=Time(sec=STAMP_SEC, nanosec=STAMP_NANOSEC), frame_id=frame_id)


def _rows(msg) -> np.ndarray:
    """Raw bytes of an Image message as height×step uint8."""
    return np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)


def _fake_msg(encoding: str, pixels: np.ndarray, *, bigendian: bool = False, padding: int = 0, **override):
    """Image-like object built by hand (not by the module under test)."""
    height, width = pixels.shape[:2]
    wire = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<"))
    rows = np.ascontiguousarray(wire).view(np.uint8).reshape(height, -1)
    row_bytes = rows.shape[1]
    padded = np.full((height, row_bytes + padding), 0xAB, dtype=np.uint8)  # non-zero padding must be ignored
    padded[:, :row_bytes] = rows
    fields = dict(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=row_bytes + padding,
        data=padded.tobytes(),
    )
    fields.update(override)
    return SimpleNamespace(**fields)


# --- colour images --------------------------------------------------------------------------------------------------


def _expected_wire_pixels(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """Pixel bytes of ``encoding`` computed with OpenCV / integer arithmetic, as H×(W*bpp) uint8."""
    alpha = np.full(rgb.shape[:2] + (1,), UINT8_MAX, dtype=np.uint8)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    pixels = {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "rgba8": np.concatenate([rgb, alpha], axis=2),
        "bgra8": np.concatenate([rgb[..., ::-1], alpha], axis=2),
        "mono8": grey,
        "mono16": grey.astype("<u2") * np.uint16(257),
    }[encoding]
    return np.ascontiguousarray(pixels).view(np.uint8).reshape(rgb.shape[0], -1)


@pytest.mark.parametrize("padding", [0, ROW_PADDING])
@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_rgb_round_trip_every_encoding(rgb, encoding, padding):
    msg = rgb8_to_image_msg(rgb, _header(), encoding=encoding, row_padding=padding)
    bpp = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "mono16": 2}[encoding]
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (480, 640, encoding, 0)
    assert msg.step == 640 * bpp + padding
    assert len(msg.data) == msg.height * msg.step
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == (
        FRAME_ID,
        STAMP_SEC,
        STAMP_NANOSEC,
    )
    rows = _rows(msg)
    np.testing.assert_array_equal(rows[:, : 640 * bpp], _expected_wire_pixels(rgb, encoding))
    assert not rows[:, 640 * bpp :].any()  # padding bytes are zeros

    out = image_msg_to_rgb8(msg)
    assert out.shape == (480, 640, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    if encoding.startswith("mono"):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=2))
        assert not np.array_equal(out, rgb)  # a colour frame really lost its colour
    else:
        np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_endianness_and_full_range_scaling(depth_png, bigendian):
    # Real 16-bit data (the TUM depth PNG) plus the range ends, scaled floor(v * 255 / 65535).
    values = depth_png.copy()
    values[0, :4] = (0, 257, 65534, UINT16_MAX)
    msg = _fake_msg("mono16", values, bigendian=bigendian, padding=ROW_PADDING)
    out = image_msg_to_rgb8(msg)
    expected = (values.astype(np.int64) * UINT8_MAX // UINT16_MAX).astype(np.uint8)
    np.testing.assert_array_equal(out, np.repeat(expected[..., None], 3, axis=2))
    assert out[0, :4, 0].tolist() == [0, 1, 254, 255]
    assert out.max() > 0  # the data is not trivially zero


def test_decodes_duck_typed_bgra_with_padding(rgb):
    bgra = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
    msg = _fake_msg("bgra8", bgra, padding=ROW_PADDING)
    np.testing.assert_array_equal(image_msg_to_rgb8(msg), rgb)
    msg.data = list(msg.data[: msg.step * 2])  # a list of ints is accepted too
    msg.height = 2
    np.testing.assert_array_equal(image_msg_to_rgb8(msg), rgb[:2])


def _bad(msg, **override):
    fields = {k: getattr(msg, k) for k in ("height", "width", "encoding", "is_bigendian", "step", "data")}
    fields.update(override)
    return SimpleNamespace(**fields)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        (dict(encoding="yuv422"), "unsupported_encoding"),
        (dict(encoding="32FC1"), "unsupported_encoding"),
        (dict(encoding="RGB8"), "unsupported_encoding"),
        (dict(width=0), "empty"),
        (dict(height=0), "empty"),
        (dict(step=4 * 3 - 1), "step_mismatch"),
        (dict(data=bytes(3 * (4 * 3 + 2) - 1)), "size_mismatch"),
        (dict(data=bytes(3 * (4 * 3 + 2) + 1)), "size_mismatch"),
        (dict(data=b""), "size_mismatch"),
    ],
)
def test_bad_images_raise_with_reason(rgb, override, reason):
    good = _fake_msg("rgb8", rgb[:3, :4], padding=2)
    assert image_msg_to_rgb8(good).shape == (3, 4, 3)
    with pytest.raises(ImageConversionError) as err:
        image_msg_to_rgb8(_bad(good, **override))
    assert err.value.reason == reason
    assert isinstance(err.value, ValueError)


def test_encoder_rejects_bad_input(rgb):
    with pytest.raises(ImageConversionError) as err:
        rgb8_to_image_msg(rgb, _header(), encoding="yuv422")
    assert err.value.reason == "unsupported_encoding"
    for bad in (rgb[..., 0], rgb.astype(np.float32), rgb[:0]):
        with pytest.raises(ValueError):
            rgb8_to_image_msg(bad, _header())
    with pytest.raises(ValueError):
        rgb8_to_image_msg(rgb, _header(), row_padding=-1)


def test_error_reason_validated_and_picklable():
    err = pickle.loads(pickle.dumps(ImageConversionError("empty", "0×0")))
    assert (err.reason, str(err)) == ("empty", "0×0")
    with pytest.raises(ValueError):
        ImageConversionError("bad_reason", "x")


def test_result_is_a_copy(rgb):
    msg = rgb8_to_image_msg(rgb, _header())
    out = image_msg_to_rgb8(msg)
    assert not np.shares_memory(out, np.frombuffer(msg.data, dtype=np.uint8))
    for i in range(16):
        msg.data[i] = (msg.data[i] + 1) % 256  # msg.data is an array.array('B')
    np.testing.assert_array_equal(out, rgb)
    out[0, 0] = 0  # writable, and writing does not reach the message
    assert msg.data[0] == (int(rgb[0, 0, 0]) + 1) % 256


def test_header_is_copied(rgb):
    header = _header()
    msg = rgb8_to_image_msg(rgb[:2, :2], header)
    header.frame_id = "other"
    header.stamp.sec = 0
    assert (msg.header.frame_id, msg.header.stamp.sec) == (FRAME_ID, STAMP_SEC)


# --- depth (REP 118) ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def depth_m(depth_png, calib) -> np.ndarray:
    """TUM depth in float32 metres, NaN where the PNG is 0, plus a few hand-made invalid pixels."""
    assert calib["depth_scale"] == PNG_UNITS_PER_MM * 1000
    depth = depth_png.astype(np.float32) / np.float32(calib["depth_scale"])
    depth[depth_png == 0] = np.nan
    return depth


def _with_invalid(depth: np.ndarray) -> np.ndarray:
    out = depth.copy()
    out[0, :4] = (np.inf, -np.inf, -1.0, 0.0)
    return out


def test_depth_32fc1_round_trip(depth_m):
    msg = depth_to_image_msg(_with_invalid(depth_m), _header())
    assert (msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian) == ("32FC1", 480, 640, 640 * 4, 0)
    expected = depth_m.copy()
    expected[0, :4] = np.nan
    wire = np.frombuffer(msg.data, dtype="<f4").reshape(480, 640)
    np.testing.assert_array_equal(wire, expected)  # NaN positions must match too
    back = image_msg_to_depth_m(msg)
    assert back.dtype == np.float32 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, expected)
    assert 0.2 < np.nanmin(back) and np.nanmax(back) < 4.0  # a plausible indoor Kinect range, in metres


def test_depth_16uc1_round_trip_rounds_to_millimetres(depth_m, depth_png):
    msg = depth_to_image_msg(_with_invalid(depth_m), _header(), encoding="16UC1")
    assert (msg.encoding, msg.step, msg.is_bigendian) == ("16UC1", 640 * 2, 0)
    # PNG units are 0.2 mm: the nearest millimetre is (png + 2) // 5 (no ties possible).
    expected_mm = ((depth_png.astype(np.int64) + PNG_UNITS_PER_MM // 2) // PNG_UNITS_PER_MM).astype(np.uint16)
    expected_mm[0, :4] = 0
    wire = np.frombuffer(msg.data, dtype="<u2").reshape(480, 640)
    np.testing.assert_array_equal(wire, expected_mm)
    assert (depth_png % PNG_UNITS_PER_MM != 0).any()  # the rounding really was exercised
    back = image_msg_to_depth_m(msg)
    expected_m = expected_mm.astype(np.float32) / np.float32(1000)
    expected_m[expected_mm == 0] = np.nan
    np.testing.assert_array_equal(back, expected_m)
    original = depth_m.copy()
    original[0, :4] = np.nan
    np.testing.assert_allclose(back, original, rtol=0.0, atol=0.5e-3, equal_nan=True)  # within half a millimetre


def test_depth_16uc1_range_limits():
    depth = np.array([[0.0004, 0.0006, 65.535, 65.5356, 70.0, np.nan]], dtype=np.float64)
    msg = depth_to_image_msg(depth, _header(), encoding="16UC1")
    assert np.frombuffer(msg.data, dtype="<u2").tolist() == [0, 1, 65535, 0, 0, 0]
    back = image_msg_to_depth_m(msg)
    np.testing.assert_array_equal(back, np.array([[np.nan, 0.001, 65.535, np.nan, np.nan, np.nan]], np.float32))


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_depth_decoder_honours_step_and_endianness(depth_m, encoding):
    if encoding == "32FC1":
        pixels, expected = depth_m, depth_m
    else:
        pixels = np.nan_to_num(np.rint(depth_m * 1000), nan=0).astype(np.uint16)
        expected = np.where(pixels == 0, np.nan, pixels.astype(np.float32) / np.float32(1000))
    for bigendian in (False, True):
        msg = _fake_msg(encoding, pixels, bigendian=bigendian, padding=ROW_PADDING + 1)
        np.testing.assert_array_equal(image_msg_to_depth_m(msg), expected.astype(np.float32))


def test_depth_errors(depth_m, depth_png, rgb):
    with pytest.raises(ValueError):
        depth_to_image_msg(depth_m, _header(), encoding="mono16")
    with pytest.raises(ValueError):
        depth_to_image_msg(depth_m[None], _header())
    with pytest.raises(ValueError):
        depth_to_image_msg(depth_png, _header())  # raw PNG units, not metres
    with pytest.raises(ImageConversionError) as err:
        image_msg_to_depth_m(rgb8_to_image_msg(rgb, _header()))
    assert err.value.reason == "unsupported_encoding"
    msg = depth_to_image_msg(depth_m, _header())
    with pytest.raises(ImageConversionError) as err:
        image_msg_to_depth_m(_bad(msg, step=640 * 4 - 1))
    assert err.value.reason == "step_mismatch"


# --- camera info ----------------------------------------------------------------------------------------------------


def test_camera_info_fields_and_round_trip(K, calib):
    info = camera_info_msg(K, calib["width"], calib["height"], _header(), "plumb_bob", calib["distortion"])
    assert (info.width, info.height, info.distortion_model) == (640, 480, "plumb_bob")
    assert list(info.k) == [517.3, 0.0, 318.6, 0.0, 516.5, 255.3, 0.0, 0.0, 1.0]
    assert list(info.p) == [517.3, 0.0, 318.6, 0.0, 0.0, 516.5, 255.3, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert list(info.r) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert list(info.d) == [0.2624, -0.9531, -0.0054, 0.0026, 1.1633]
    assert (info.binning_x, info.binning_y) == (0, 0)
    assert (info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height) == (0, 0, 0, 0)
    assert info.header.frame_id == FRAME_ID
    K_back, width, height = camera_info_to_K(info)
    assert K_back.dtype == np.float64 and (width, height) == (640, 480)
    np.testing.assert_array_equal(K_back, K)
    assert list(camera_info_msg(K, 640, 480, _header()).d) == [0.0] * 5


@pytest.mark.parametrize(
    "mutate",
    [
        lambda K: K[:2],
        lambda K: np.where(np.eye(3, dtype=bool), K, np.nan),
        lambda K: K * np.array([[0.0], [1.0], [1.0]]),
        lambda K: K * np.array([[1.0], [-1.0], [1.0]]),
        lambda K: K + np.array([[0, 0, 0], [0, 0, 0], [0, 0.5, 0]]),
    ],
)
def test_invalid_K_raises(K, mutate):
    with pytest.raises(ValueError):
        camera_info_msg(mutate(K.copy()), 640, 480, _header())


def test_camera_info_other_errors(K):
    with pytest.raises(ValueError):
        camera_info_msg(K, 0, 480, _header())
    with pytest.raises(ValueError):
        camera_info_msg(K, 640, 480, _header(), "plumb_bob", (0.0,) * 4)
    assert len(camera_info_msg(K, 640, 480, _header(), "rational_polynomial", (0.1,) * 8).d) == 8
    with pytest.raises(ValueError, match="uncalibrated"):
        camera_info_to_K(CameraInfo(width=640, height=480))


# --- poses ----------------------------------------------------------------------------------------------------------


def _T(angle_z_rad: float, translation=(1.0, 2.0, 3.0)) -> np.ndarray:
    c, s = math.cos(angle_z_rad), math.sin(angle_z_rad)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = translation
    return T


def _xyzw(q) -> list[float]:
    return [q.x, q.y, q.z, q.w]


def test_odometry_known_pose():
    T_odom_camera = _T(math.pi / 2)
    odom = odometry_msg(
        T_odom_camera, _header("odom"), FRAME_ID, twist_linear=(0.5, 0.0, 0.1), twist_angular=[0.0, 0.0, 0.2]
    )
    assert (odom.header.frame_id, odom.child_frame_id) == ("odom", FRAME_ID)
    assert (odom.header.stamp.sec, odom.header.stamp.nanosec) == (STAMP_SEC, STAMP_NANOSEC)
    p = odom.pose.pose.position
    assert (p.x, p.y, p.z) == (1.0, 2.0, 3.0)
    half = math.sqrt(0.5)  # 90° about z: (x, y, z, w) = (0, 0, sin 45°, cos 45°)
    np.testing.assert_allclose(_xyzw(odom.pose.pose.orientation), [0.0, 0.0, half, half], atol=1e-12)
    t = odom.twist.twist
    assert (t.linear.x, t.linear.y, t.linear.z, t.angular.z) == (0.5, 0.0, 0.1, 0.2)
    assert not np.any(odom.pose.covariance) and not np.any(odom.twist.covariance)


def test_odometry_covariance_and_canonical_quaternion():
    odom = odometry_msg(_T(3 * math.pi / 2), _header("odom"), FRAME_ID, pose_variance=0.01)
    np.testing.assert_array_equal(np.asarray(odom.pose.covariance).reshape(6, 6), np.eye(6) * 0.01)
    # 270° about z == -90° about z; written with w >= 0.
    half = math.sqrt(0.5)
    q = odom.pose.pose.orientation
    np.testing.assert_allclose(_xyzw(q), [0.0, 0.0, -half, half], atol=1e-12)
    np.testing.assert_allclose(quat2mat([q.w, q.x, q.y, q.z]), _T(3 * math.pi / 2)[:3, :3], atol=1e-12)
    variances = [1.0, 2.0, 3.0, 0.1, 0.2, 0.3]
    odom = odometry_msg(np.eye(4), _header("odom"), FRAME_ID, pose_variance=variances)
    np.testing.assert_array_equal(np.diag(np.asarray(odom.pose.covariance).reshape(6, 6)), variances)
    assert _xyzw(odom.pose.pose.orientation) == [0.0, 0.0, 0.0, 1.0]
    for bad in (-1.0, [1.0] * 5, float("nan")):
        with pytest.raises(ValueError):
            odometry_msg(np.eye(4), _header("odom"), FRAME_ID, pose_variance=bad)


@pytest.mark.parametrize(
    "T",
    [np.eye(3), np.diag([2.0, 1.0, 1.0, 1.0]), np.diag([1.0, 1.0, -1.0, 1.0]), np.full((4, 4), np.nan)],
)
def test_invalid_transforms_raise(T):
    with pytest.raises(ValueError):
        odometry_msg(T, _header("odom"), FRAME_ID)
    with pytest.raises(ValueError):
        transform_msg(T, _header("odom"), FRAME_ID)


def test_transform_known_pose():
    tf = transform_msg(_T(math.pi / 2, (0.1, -0.2, 0.3)), _header("base_link"), FRAME_ID)
    assert (tf.header.frame_id, tf.child_frame_id, tf.header.stamp.sec) == ("base_link", FRAME_ID, STAMP_SEC)
    tr = tf.transform.translation
    assert (tr.x, tr.y, tr.z) == (0.1, -0.2, 0.3)
    half = math.sqrt(0.5)
    np.testing.assert_allclose(_xyzw(tf.transform.rotation), [0.0, 0.0, half, half], atol=1e-12)


# --- point clouds ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud(depth_m, rgb, K):
    """Real back-projected TUM points (every 8th pixel with valid depth) and their colours."""
    v, u = np.mgrid[0:480:8, 0:640:8]
    z = depth_m[v, u]
    valid = np.isfinite(z)
    u, v, z = u[valid], v[valid], z[valid]
    x = (u - K[0, 2]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    return np.stack([x, y, z], axis=1).astype(np.float32), rgb[v, u]


@pytest.mark.parametrize("with_colour", [False, True])
def test_pointcloud_layout_and_decode(cloud, with_colour):
    points, colours = cloud
    n = len(points)
    assert n > 1000
    msg = pointcloud_msg(points, _header(), colours if with_colour else None)
    point_step = 16 if with_colour else 12
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, n, point_step, n * point_step)
    assert msg.is_dense is True and msg.is_bigendian is False and len(msg.data) == n * point_step
    names = ["x", "y", "z", "rgb"] if with_colour else ["x", "y", "z"]
    assert [f.name for f in msg.fields] == names
    assert [f.offset for f in msg.fields] == [0, 4, 8, 12][: len(names)]
    assert all(f.datatype == PointField.FLOAT32 and f.count == 1 for f in msg.fields)
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(n, point_step)
    np.testing.assert_array_equal(raw[:, :12].copy().view("<f4"), points)
    if with_colour:
        packed = raw[:, 12:16].copy().view("<u4")[:, 0]
        unpacked = np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=1)
        np.testing.assert_array_equal(unpacked, colours)
        assert np.all(packed >> 24 == UINT8_MAX)


def test_pointcloud_errors(cloud):
    points, colours = cloud
    bad = points.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError):
        pointcloud_msg(bad, _header())
    with pytest.raises(ValueError):
        pointcloud_msg(points[:, :2], _header())
    with pytest.raises(ValueError):
        pointcloud_msg(points, _header(), colours[:-1])
    assert pointcloud_msg(points[:0], _header()).width == 0


# --- time -----------------------------------------------------------------------------------------------------------


def test_stamp_conversions():
    ns = STAMP_SEC * 1_000_000_000 + STAMP_NANOSEC
    assert stamp_to_ns(_header().stamp) == ns == 1305031102211214000
    stamp = ns_to_stamp(ns)
    assert isinstance(stamp, Time) and (stamp.sec, stamp.nanosec) == (STAMP_SEC, STAMP_NANOSEC)
    negative = ns_to_stamp(-1)
    assert (negative.sec, negative.nanosec) == (-1, 999_999_999) and stamp_to_ns(negative) == -1
    with pytest.raises(ValueError):
        ns_to_stamp(2**31 * 1_000_000_000)
