"""Attention maps as arrays and NIH's box file: each function against an expectation computed
another way (explicit loops, hand-worked numbers, OpenCV's own colour map)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cxrpipe import boxes, heatmaps

REAL_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"


def test_normalise_scales_by_the_maximum_and_keeps_zero_maps_zero():
    cam = np.array([[0.0, 2.0], [1.0, 4.0]])
    assert np.array_equal(heatmaps.normalise(cam), [[0.0, 0.5], [0.25, 1.0]])
    assert np.array_equal(heatmaps.normalise(np.zeros((3, 3))), np.zeros((3, 3)))
    assert np.array_equal(heatmaps.normalise(np.array([[-1.0, 2.0]])), [[0.0, 1.0]])


def test_upsample_covers_the_image_corner_to_corner():
    cam = np.array([[1.0, 0.0], [0.0, 0.0]])
    up = heatmaps.upsample(cam, 8, 6)
    assert up.shape == (8, 6)
    assert up[0, 0] == pytest.approx(1.0) and up[-1, -1] == pytest.approx(0.0)
    # Bilinear: values fall monotonically away from the hot corner along the first row.
    assert np.all(np.diff(up[0]) <= 1e-6)


def test_overlay_is_the_gray_image_where_the_map_is_cold_and_jet_red_where_hot():
    gray = np.full((4, 4), 100, np.uint8)
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = heatmaps.overlay(gray, heat, alpha=0.5)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert np.array_equal(out[3, 3], [100, 100, 100])
    hot = cv2.applyColorMap(np.array([[255]], np.uint8), cv2.COLORMAP_JET)[0, 0]
    assert np.array_equal(out[0, 0], np.round(0.5 * 100 + 0.5 * hot.astype(float)).astype(np.uint8))
    with pytest.raises(ValueError, match="2-D uint8"):
        heatmaps.overlay(np.zeros((4, 4, 3), np.uint8), heat)


def test_encode_png_round_trips():
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    back = cv2.imdecode(np.frombuffer(heatmaps.encode_png(image), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back, image)


def test_peak_inside_and_box_mask():
    heat = np.zeros((10, 10))
    heat[2, 7] = 1.0
    assert heatmaps.peak(heat) == (7.5, 2.5)
    assert heatmaps.inside((7.5, 2.5), (7, 2, 1, 1)) and not heatmaps.inside((7.5, 2.5), (0, 0, 7, 10))
    mask = heatmaps.box_mask((2, 3, 4, 2), 10, 10)
    expected = np.zeros((10, 10), bool)
    for row in range(10):
        for col in range(10):
            expected[row, col] = 2 <= col + 0.5 <= 6 and 3 <= row + 0.5 <= 5
    assert np.array_equal(mask, expected) and mask.sum() == 8


def test_iou_and_score_box_by_hand():
    heat = np.zeros((10, 10))
    heat[0:4, 0:4] = 0.6     # 16 pixels at or above 0.5 of the max
    heat[1, 1] = 1.0         # the peak at (1.5, 1.5)
    hit, iou = heatmaps.score_box(heat, (0, 0, 2, 4), threshold=0.5)
    # The box holds the pixel centres of columns 0-1, rows 0-3: 8 pixels, all in the region.
    assert hit and iou == pytest.approx(8 / 16)
    hit, iou = heatmaps.score_box(heat, (5, 5, 5, 5), threshold=0.5)
    assert not hit and iou == 0.0
    assert heatmaps.score_box(np.zeros((10, 10)), (0, 0, 10, 10), 0.5) == (False, 0.0)
    assert heatmaps.iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 0.0


def test_the_real_nih_box_file_format_parses_and_renames_infiltrate():
    text = (REAL_HEADER + "\n"
            "00013118_008.png,Atelectasis,225.084745762712,547.019216763771,86.7796610169491,79.1864406779661\n"
            "00014716_007.png,Infiltrate,100.5,200.25,50,60,,,\n\n")
    found = boxes.parse(text.encode())
    assert [(b.image_id, b.finding, b.line) for b in found] == [
        ("00013118_008.png", "Atelectasis", 2), ("00014716_007.png", "Infiltration", 3)]
    assert (found[0].x, found[0].h) == (225.084745762712, 79.1864406779661)
    assert boxes.parse(boxes.to_csv(found)) == found
    assert boxes.to_csv(found).decode().splitlines()[0] == REAL_HEADER
    assert ",Infiltrate," in boxes.to_csv(found).decode()


@pytest.mark.parametrize("text, message", [
    ("Image,Label,x,y,w,h\n", "line 1: expected the header"),
    (REAL_HEADER + "\na.png,Mass,1,2,3\n", "line 2: expected Image Index"),
    (REAL_HEADER + "\na.png,Mass,1,2,3,4\nb.png,Mass,1,two,3,4\n", "line 3: x,y,w,h must be numbers"),
    (REAL_HEADER + "\na.png,Mass,1,2,0,4\n", "line 2: expected finite x,y and positive w,h"),
    (REAL_HEADER + "\n,Mass,1,2,3,4\n", "line 2: empty Image Index"),
    (REAL_HEADER + "\na.png,Mass,1,2,3,4,extra,,\n", "line 2: expected Image Index"),
])
def test_a_malformed_box_file_is_one_error_naming_the_line(text, message):
    with pytest.raises(ValueError, match=message) as info:
        boxes.parse(text.encode(), "boxes.csv")
    assert str(info.value).startswith("boxes.csv line") and "\n" not in str(info.value)


def test_boxes_map_to_the_model_input_by_each_axis_stretch():
    box = boxes.Box("a.png", "Mass", 512.0, 256.0, 128.0, 64.0, 2)
    assert boxes.to_model(box, 1024, 1024, 299) == pytest.approx((149.5, 74.75, 37.375, 18.6875))
    # A non-square source is stretched into the square: x by 48/2000, y by 48/1000.
    assert boxes.to_model(box, 2000, 1000, 48) == pytest.approx((12.288, 12.288, 3.072, 3.072))


def test_localization_report_and_its_lines():
    scored = [("Mass", True, 0.5, 0.1), ("Mass", False, 0.0, 0.3), ("Effusion", True, 0.25, 0.2)]
    report = boxes.localization_report(scored, 0.5, {"image_not_in_split": 3})
    assert report["boxes_scored"] == 3 and report["not_scored"] == {"image_not_in_split": 3}
    assert report["findings"]["Mass"] == pytest.approx(
        {"boxes": 2, "hit_rate": 0.5, "mean_iou": 0.25, "chance_hit_rate": 0.2})
    assert list(report["findings"]) == ["Effusion", "Mass"]
    text = boxes.format_localization(report)
    assert "3 image not in split" in text and "Mass" in text and "0.500" in text
