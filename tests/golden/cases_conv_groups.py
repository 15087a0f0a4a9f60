"""Fixture cases of conv_groups.json: F.conv2d with dilation and groups, written by
make_golden.py (`make_golden.py conv_groups.json`). Op "conv2d", attrs {stride, padding,
dilation, groups, bias} (2-D sizes as [h, w] lists), inputs x, weight (O, C/groups, kh, kw)[, bias].

Dilation 2 and 3, rectangular dilation, dilation with stride, "same" outputs whose dilated taps
reach past the input; groups 2 and 4, one output channel per group, grouped 1x1 kernels;
depthwise (groups = C) with channel multipliers 1, 2 and 3 and a rectangular kernel; groups with
stride, padding and dilation together; with and without bias. The plain cases (dilation 1,
groups 1) are layers.json's.
"""
from collections import OrderedDict

from golden_common import conv2d_case, pair


# (name, x shape, weight shape, stride, padding, dilation, groups, bias)
CASES = [
    ("conv2d_d2", (2, 3, 9, 8), (4, 3, 3, 3), 1, 0, 2, 1, True),
    ("conv2d_d3_same_nobias", (2, 2, 10, 9), (3, 2, 3, 3), 1, 3, 3, 1, False),
    ("conv2d_d3_taps_past_input", (1, 2, 4, 5), (2, 2, 3, 3), 1, 3, 3, 1, True),
    ("conv2d_d23_rect", (2, 3, 9, 11), (4, 3, 3, 3), 1, (2, 3), (2, 3), 1, True),
    ("conv2d_d2_s2_nobias", (2, 2, 11, 10), (3, 2, 3, 2), 2, 1, 2, 1, False),
    ("conv2d_g2", (2, 4, 6, 5), (6, 2, 3, 3), 1, 1, 1, 2, True),
    ("conv2d_g4_nobias", (2, 8, 7, 6), (8, 2, 3, 3), 1, 1, 1, 4, False),
    ("conv2d_g4_one_out_per_group", (2, 8, 6, 6), (4, 2, 3, 3), 1, 0, 1, 4, True),
    ("conv2d_g4_s21_p21_d21", (2, 8, 11, 9), (8, 2, 3, 3), (2, 1), (2, 1), (2, 1), 4, True),
    ("conv2d_g2_1x1", (2, 6, 4, 5), (4, 3, 1, 1), 1, 0, 1, 2, True),
    ("conv2d_depthwise", (2, 4, 6, 6), (4, 1, 3, 3), 1, 1, 1, 4, True),
    ("conv2d_depthwise_m2_s2_nobias", (2, 3, 7, 7), (6, 1, 3, 3), 2, 1, 1, 3, False),
    ("conv2d_depthwise_m3_d2", (1, 4, 9, 8), (12, 1, 3, 3), 1, 2, 2, 4, True),
    ("conv2d_depthwise_rect_kernel_nobias", (2, 3, 8, 9), (3, 1, 5, 3), 1, (2, 1), 1, 3, False),
]


def conv_case(name, x_shape, w_shape, stride, padding, dilation, groups, bias):
    attrs = OrderedDict([("stride", pair(stride)), ("padding", pair(padding)), ("dilation", pair(dilation)),
                         ("groups", groups), ("bias", bias)])
    return conv2d_case(name, x_shape, w_shape, bias, attrs, stride=stride, padding=padding, dilation=dilation,
                       groups=groups)


def cases():
    return [conv_case(*c) for c in CASES]
