"""Small models, one per opset-upgrade rule, at the opset before the rule's change.

Each model isolates the ai.onnx ops whose meaning or signature changed between its opset and the
targets the test moves it to (tests/opset.rs lists file -> targets). Expected outputs are not
stored: the reference is the original model itself, run in ONNX Runtime beside the upgraded one
(scripts/same_outputs.py), so every case checks "same outputs before and after".

Rerun with: .venv/bin/python crates/optimize-onnx/tests/cases/opset-upgrade/make.py
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
F = TensorProto.FLOAT


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def save(name, nodes, inputs, outputs, opset, initializers=(), ir=7):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir,
        producer_name="optimize-onnx tests/cases/opset-upgrade/make.py")
    onnx.save(model, HERE / f"{name}.onnx")


def f32(name, values, shape=None):
    a = np.asarray(values, dtype=np.float32)
    return numpy_helper.from_array(a.reshape(shape) if shape else a, name)


def i64(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


# Softmax family at 12 -> 13: before 13 the input is coerced to 2-D at `axis` (default 1); from 13
# the op works along one axis. Axis 1 of a rank-3 input is where the two differ. `x` has a declared
# rank, so axis 2 on it is provably the last axis and kept; `t` (an intermediate) has no bound rank.
save("softmax-axis", [
    helper.make_node("Softmax", ["x"], ["sm_axis1"], "sm_axis1", axis=1),
    helper.make_node("LogSoftmax", ["x"], ["lsm_axis0"], "lsm_axis0", axis=0),
    helper.make_node("Hardmax", ["x"], ["hm_default"], "hm_default"),
    helper.make_node("Softmax", ["x"], ["sm_last"], "sm_last", axis=-1),
    helper.make_node("Softmax", ["x"], ["sm_axis2"], "sm_axis2", axis=2),
    helper.make_node("Relu", ["x"], ["t"], "relu"),
    helper.make_node("Softmax", ["t"], ["sm_inner_unknown_rank"], "sm_t", axis=2),
], [vi("x", [2, 3, 4])], [vi(n, [2, 3, 4]) for n in
    ["sm_axis1", "lsm_axis0", "hm_default", "sm_last", "sm_axis2", "sm_inner_unknown_rank"]], 12)

# Squeeze / Unsqueeze at 11 -> 13: axes attribute to input, with and without axes.
save("squeeze-unsqueeze", [
    helper.make_node("Squeeze", ["x"], ["sq0"], "sq_axes", axes=[0]),
    helper.make_node("Unsqueeze", ["sq0"], ["us"], "us_axes", axes=[0, -1]),
    helper.make_node("Squeeze", ["x"], ["sq_all"], "sq_no_axes"),
], [vi("x", [1, 3, 1, 4])], [vi("sq0", [3, 1, 4]), vi("us", [1, 3, 1, 4, 1]), vi("sq_all", [3, 4])], 11)

# Split at 12 -> 13 (sizes to input) and -> 18 (num_outputs when no sizes).
save("split", [
    helper.make_node("Split", ["x"], ["a", "b", "c"], "split_sizes", axis=1, split=[1, 2, 3]),
    helper.make_node("Split", ["x"], ["d", "e"], "split_even", axis=1),
], [vi("x", [2, 6])], [vi("a", [2, 1]), vi("b", [2, 2]), vi("c", [2, 3]), vi("d", [2, 3]),
                       vi("e", [2, 3])], 12)

# ReduceSum at 12 -> 13, the other Reduce ops -> 18: axes to input; keepdims kept; no axes = all.
save("reduce", [
    helper.make_node("ReduceSum", ["x"], ["sum1"], "sum_axis1", axes=[1], keepdims=0),
    helper.make_node("ReduceSum", ["x"], ["sum_all"], "sum_all"),
    helper.make_node("ReduceMean", ["x"], ["mean_last"], "mean_last", axes=[-1]),
    helper.make_node("ReduceMax", ["x"], ["max02"], "max02", axes=[0, 2], keepdims=0),
    helper.make_node("ReduceL2", ["x"], ["l2_all"], "l2_all", keepdims=0),
], [vi("x", [2, 3, 4])], [vi("sum1", [2, 4]), vi("sum_all", [1, 1, 1]), vi("mean_last", [2, 3, 1]),
                          vi("max02", [3]), vi("l2_all", [])], 12)

# Dropout at 11 -> 12: ratio attribute to input; identity at inference. (Nodes using the mask
# output are refused: ONNX Runtime's opset-10 kernel returns it all false, opset 12 all true.)
save("dropout", [
    helper.make_node("Dropout", ["x"], ["y"], "drop", ratio=0.3),
    helper.make_node("Dropout", ["y"], ["z"], "drop_default"),
], [vi("x", [2, 5])], [vi("y", [2, 5]), vi("z", [2, 5])], 11)

# Opset 9 -> 10: Slice and TopK attributes to inputs; Upsample (deprecated at 10) to Resize, and on
# to Resize-11 at 11.
save("opset9", [
    helper.make_node("Slice", ["x"], ["sliced"], "slice", starts=[1, -3], ends=[1000, -1], axes=[2, -1]),
    helper.make_node("TopK", ["x"], ["top_v", "top_i"], "topk", k=2, axis=2),
    helper.make_node("Upsample", ["x", "up2"], ["near"], "upsample_nearest", mode="nearest"),
    helper.make_node("Upsample", ["x", "up2"], ["lin"], "upsample_linear", mode="linear"),
], [vi("x", [1, 2, 4, 6])],
   [vi("sliced", [1, 2, 3, 2]), vi("top_v", [1, 2, 2, 6]), vi("top_i", [1, 2, 2, 6], TensorProto.INT64),
    vi("near", [1, 2, 8, 12]), vi("lin", [1, 2, 8, 12])],
   9, [f32("up2", [1, 1, 2, 2])])

# Opset 10 -> 11: Clip and Pad attributes to inputs, Resize-10 to Resize-11 with asymmetric
# coordinates (up-sampling nearest, linear both ways), Scatter to ScatterElements.
save("opset10", [
    helper.make_node("Clip", ["x"], ["relu6"], "relu6", min=0.0, max=6.0),
    helper.make_node("Clip", ["x"], ["clip_max"], "clip_max", max=0.5),
    helper.make_node("Pad", ["x"], ["pad_const"], "pad_const", pads=[0, 0, 1, 2, 0, 0, 2, 1], value=1.5),
    helper.make_node("Pad", ["x"], ["pad_reflect"], "pad_reflect", mode="reflect", pads=[0, 0, 1, 1, 0, 0, 1, 1]),
    helper.make_node("Resize", ["x", "up2"], ["near_up"], "near_up"),
    helper.make_node("Resize", ["x", "up3"], ["near_up3"], "near_up3", mode="nearest"),
    helper.make_node("Resize", ["x", "up2"], ["lin_up"], "lin_up", mode="linear"),
    helper.make_node("Resize", ["x", "down"], ["lin_down"], "lin_down", mode="linear"),
    helper.make_node("Scatter", ["data", "idx", "upd"], ["scatter"], "scatter", axis=1),
], [vi("x", [1, 2, 4, 6]), vi("data", [3, 3])],
   [vi("relu6", [1, 2, 4, 6]), vi("clip_max", [1, 2, 4, 6]), vi("pad_const", [1, 2, 7, 9]),
    vi("pad_reflect", [1, 2, 6, 8]), vi("near_up", [1, 2, 8, 12]), vi("near_up3", [1, 2, 12, 15]),
    vi("lin_up", [1, 2, 8, 12]), vi("lin_down", [1, 2, 2, 3]), vi("scatter", [3, 3])],
   10, [f32("up2", [1, 1, 2, 2]), f32("up3", [1, 1, 3, 2.5]), f32("down", [1, 1, 0.5, 0.5]),
        i64("idx", [[1, 0, 2], [0, 2, 1]]), f32("upd", [[1, 2, 3], [4, 5, 6]])])

# Resize at 12 -> 13: coordinate_transformation_mode "tf_half_pixel_for_nn" was removed; nearest
# with floor / round_prefer_floor maps to half_pixel with round_prefer_ceil / ceil. Up- and
# down-sampling by non-integer factors, where a wrong rounding shows.
save("resize-tf-half-pixel", [
    helper.make_node("Resize", ["x", "roi", "up"], ["up_floor"], "up_floor", mode="nearest",
                     coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="floor"),
    helper.make_node("Resize", ["x", "roi", "up"], ["up_default"], "up_default", mode="nearest",
                     coordinate_transformation_mode="tf_half_pixel_for_nn"),
    helper.make_node("Resize", ["x", "roi", "down"], ["down_floor"], "down_floor", mode="nearest",
                     coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="floor"),
    helper.make_node("Resize", ["x", "roi", "down"], ["down_default"], "down_default",
                     coordinate_transformation_mode="tf_half_pixel_for_nn"),
], [vi("x", [1, 1, 5, 7])],
   [vi("up_floor", [1, 1, 8, 17]), vi("up_default", [1, 1, 8, 17]), vi("down_floor", [1, 1, 3, 4]),
    vi("down_default", [1, 1, 3, 4])],
   12, [f32("roi", []), f32("up", [1, 1, 1.7, 2.5]), f32("down", [1, 1, 0.6, 0.65])])

# Rewrites inside If branches (subgraphs share the model's opset); the constants they need live
# in the main graph and are read from the outer scope. Two Ifs on opposite conditions, so whatever
# the input, both bodies run.
def branches(p):
    then_branch = helper.make_graph([
        helper.make_node("Squeeze", ["x"], [f"{p}t_sq"], f"{p}then_squeeze", axes=[0]),
        helper.make_node("Softmax", [f"{p}t_sq"], [f"{p}t_out"], f"{p}then_softmax", axis=0),
    ], f"{p}then", [], [vi(f"{p}t_out", [3, 4])])
    else_branch = helper.make_graph([
        helper.make_node("ReduceSum", ["x"], [f"{p}e_sum"], f"{p}else_sum", axes=[0], keepdims=0),
        helper.make_node("Softmax", [f"{p}e_sum"], [f"{p}e_out"], f"{p}else_softmax"),
    ], f"{p}else", [], [vi(f"{p}e_out", [3, 4])])
    return dict(then_branch=then_branch, else_branch=else_branch)


save("subgraph", [
    helper.make_node("ReduceSum", ["x"], ["total"], "total", keepdims=0),
    helper.make_node("Greater", ["total", "zero"], ["cond"], "cond"),
    helper.make_node("Not", ["cond"], ["not_cond"], "not_cond"),
    helper.make_node("If", ["cond"], ["y"], "if", **branches("a_")),
    helper.make_node("If", ["not_cond"], ["y2"], "if_not", **branches("b_")),
], [vi("x", [1, 3, 4])], [vi("y", [3, 4]), vi("y2", [3, 4])], 12, [f32("zero", 0.0)])

# IR version 3: initializers must also be graph inputs, including the ones the upgrade adds.
save("ir3", [
    helper.make_node("Unsqueeze", ["x"], ["y"], "unsqueeze", axes=[1]),
    helper.make_node("Add", ["y", "w"], ["z"], "add"),
], [vi("x", [2, 3]), vi("w", [1])], [vi("z", [2, 1, 3])], 11, [f32("w", [0.5])], ir=3)

# RoiAlign at 10 -> 16: the new coordinate_transformation_mode defaults to "half_pixel"; the old
# behaviour ("output_half_pixel") is written explicitly.
save("roi-align", [
    helper.make_node("RoiAlign", ["x", "rois", "batch"], ["y"], "roi_align", output_height=2,
                     output_width=3, sampling_ratio=2, spatial_scale=0.5),
], [vi("x", [1, 2, 8, 8])], [vi("y", [2, 2, 2, 3])], 10,
   [f32("rois", [[1.0, 1.5, 9.0, 11.0], [0.0, 0.0, 6.5, 4.0]]),
    numpy_helper.from_array(np.zeros(2, dtype=np.int64), "batch")])

# GridSample at 16 -> 20: modes renamed (bilinear -> linear, bicubic -> cubic).
save("grid-sample", [
    helper.make_node("GridSample", ["x", "grid"], ["cubic"], "bicubic", mode="bicubic"),
    helper.make_node("GridSample", ["x", "grid"], ["linear"], "bilinear", mode="bilinear"),
    helper.make_node("GridSample", ["x", "grid"], ["default"], "default_mode"),
], [vi("x", [1, 2, 4, 5]), vi("grid", [1, 3, 3, 2])],
   [vi("cubic", [1, 2, 3, 3]), vi("linear", [1, 2, 3, 3]), vi("default", [1, 2, 3, 3])], 16)

# DFT at 17 -> 20: the axis attribute (default 1) became an input (default -2).
save("dft", [
    helper.make_node("DFT", ["x"], ["default_axis"], "dft_default"),
    helper.make_node("DFT", ["x", "len"], ["axis2"], "dft_axis2", axis=2),
], [vi("x", [2, 4, 6, 1])], [vi("default_axis", [2, 4, 6, 2]), vi("axis2", [2, 4, 5, 2])], 17,
   [i64("len", 5)])

# Refused: nearest Resize from opset 10 that down-samples (opset 10 left its rounding undefined).
save("refused-resize-down", [
    helper.make_node("Resize", ["x", "down"], ["y"], "near_down", mode="nearest"),
], [vi("x", [1, 1, 4, 4])], [vi("y", [1, 1, 2, 2])], 10, [f32("down", [1, 1, 0.5, 0.5])])
