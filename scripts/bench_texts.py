"""The fixed prose of ``make bench``'s report (docs/BENCHMARKS.md): the notes every run writes
under the machine's description (``INTRO``, ``THREADS_NOTE``) and the opening text of each section
(``TEXT``, by section name), into which ``scripts/bench.py`` fills the run's settings and appends
the measured tables. Section 7's text lives with its benchmark (``bench_multicam.TEXT``).
"""
from __future__ import annotations

import bench_multicam

INTRO = """\
Every comparison below was measured side by side in one run: each repetition calls every variant
of a table once, in an order rotated by one per repetition, so a burst of load from another process
hits all of them alike; warm-up calls are excluded. Medians and p95 are over the repetitions (numpy
'linear' percentiles, `video_perception/eval/latency.py`); `p95/median-1` is the spread. **This
machine is shared and noisy** (other jobs run on the same 2 cores; see the load average): read the
ratios, which are taken from medians of the same run, rather than the absolute numbers. All models
have random weights (bundles exported by `video-perception export` without a checkpoint): latency
does not depend on the weights, except post-processing, which is not in the model times.
"""


THREADS_NOTE = """\
One thread per inference by default (`--threads`): on this shared 2-core machine a two-thread
torch call stalls at every parallel barrier whenever another process holds the other core
(measured while writing this script at load average 11: streamnet_tiny encode median 13.5 ms with
1 thread against 213 ms with 2). On a quiet machine `--threads 2` measures both cores.
"""


TEXT = {
    'peak': """## 1. Matrix-multiply peak of this machine

fp32 products of two n x n matrices (2 n^3 FLOPs), torch `torch.mm` and ONNX Runtime `MatMul`
(MLAS), {threads} thread(s), {reps} interleaved calls each: {sizes}. **Peak: best {best:.1f}
GFLOP/s**, the best of all of them (torch's CPU wheels multiply with MKL, which may not take its
fastest path on a non-Intel CPU). Model FLOP/s in section 2 are compared with it. FLOPs are
counted by `torch.utils.flop_counter.FlopCounterMode` on the torch backend (convolutions, matmuls,
attention; 2 FLOPs per multiply-add); grid_sample, element-wise ops and normalisation are not
counted, so deformable models read low.
""",
    'latency': """## 2. Model latency per frame, by model and backend

Model time as the detector measures it (`detector.model_ms`: the backend calls, for StreamNet
encoder + forecast with the feature buffer; letterbox and post-processing excluded), on a frame
already at the network size. torch = eager fp32 through the torch backend (RepConv fused);
onnxruntime = the exported bundle on the CPU provider. Memory, measured in a fresh process per row
(`scripts/bench_memory.py`) above the resident set after importing torch, onnxruntime and the
project: **RSS load** is the growth while the detector loads (torch: the model plus the state dict
read from disk); **peak RSS** is VmHWM over load and two frames (weights, runtime arenas,
activations). RSS covers numpy, torch and ONNX Runtime alike; torch's profiler would see only
torch's own allocations.

""",
    'history': """## 3. StreamNet history cost: N=3 with the buffer vs N=0 vs recomputing

torch eager, RepConv fused. **N=0**: encode the frame, forecast with no history (the model built
with `long_groups=()`). **N=3 + buffered reductions** (the default, what bundles do):
`StreamingRunner`, each frame encoded once and its long-path 1x1 reductions computed once and
buffered; a step reads 3 cached reductions. **N=3 + buffered maps, long convs per slot**: the
buffer before, `StreamingRunner(cached=False)`, which keeps the neck maps and runs the long convs
on each of the 3 slots every step. **N=3 recompute**: the released code's way, the offline
forward that encodes all 4 frames every step. Target: N=3 <= 1.05x N=0 (paper: 1.014x). The
paired ratio divides the calls of the same repetition (the same moment, the same load) before
taking the median; the FLOP ratio is free of noise.

""",
    'v2i': """## 4. V2I: students vs the video teacher

torch eager. A student sees one frame; the teacher (Deformable DETR + MSI) sees a clip of T=3
frames [t-2, t-1, t] for every output frame (it has no cache). Paper: teacher 2 FPS vs students
about 18-30 FPS (about 9x).

""",
    'node': """## 5. Node overhead at 1920x1200

The node's real path, `NodeCore.process` with the nodes' decode and publish callbacks, from the
CDR bytes of a 1920x1200 bgr8 `sensor_msgs/Image` (as the DDS reader hands them over) to the CDR
bytes of the `Detection2DArray` (as the writer sends them), with the detector's model time
subtracted; backend onnxruntime. The weights are random (scores about 1e-4), so two cases bracket
a trained model: at the default `score_threshold` 0.3 no StreamNet box passes (lower bound on
post-processing and messages); at 0 every anchor goes through NMS and `max_detections` (100)
boxes are published (upper bound); detr_tiny has 30 queries and publishes all 30 in both. The
stages below each total are timed on their own in the same loop.

""",
    'buffer': """

### Feature buffer cost per frame (N=3)

What the StreamNet detector does with the buffer each frame: take the N history views and copy
the new encoding in.

""",
    'dds': """## 6. End to end over DDS on loopback (separate processes)

`streamnet_node` (streamnet_tiny bundle, onnxruntime) in its own process; this process publishes
1920x1200 bgr8 Images (reliable QoS, 5 Hz so that no frame is dropped) and times each
Detection2DArray against the publish time of the Image with the same stamp, taken just before
`publish` (so it includes serialising the 6.9 MB Image, its DDS transfer through loopback, the
node's worker hand-off and the Detection2DArray's way back).

""",
    'multicam': bench_multicam.TEXT,
    'int8': """## 8. INT8 (QDQ) bundles (issue 21)

`video-perception export NAME --checkpoint CKPT_OR_BUNDLE --int8 --calib SRC` writes a bundle
whose graphs carry explicit QuantizeLinear / DequantizeLinear nodes (training/quantize.py:
onnxruntime.quantization, signed symmetric int8 activations, per-channel weights in 7 bits of
range, float biases; why those choices: the module docstring). The same files build an
explicitly quantised TensorRT engine (INT8 flag; tested up to the builder call with a stand-in
module, no TensorRT here) and run on ONNX Runtime's CPU kernels, where the backend hands them
over with uint8 activation zero points (video_perception/backends/qdq_cpu.py: exact; x86 fuses
int8 convolutions only for u8 activations). The tables below are `make bench`'s
(`scripts/bench_int8.py`'s `bench_int8_section`); the float-kept groups further down are a
one-off command that `make bench` does not re-run (it quantises each model once per group:
several minutes per model on this machine).

### Latency, fp32 vs int8, ONNX Runtime CPU

Model time per frame through the detector (encoder + forecast for StreamNet, the student for
V2I), {threads} thread(s) per inference, random weights, fp32 and int8 bundles called alternately
in one run (medians; int8 calibrated on {calib_frames} frames: latency does not depend on the
scales; driving models from a rosbag2 of a synthetic clip, the V2I students from VocalFolds seq1).

""",
    'int8_accuracy': """### Accuracy, fp32 vs int8

`video-perception replay` of both bundles over the same clip with the same fixed 10 ms latency
schedule (so the machine's load cannot move the AP; `scripts/bench_int8.py`'s `replay_pair`).
The int8 bundles are the shipped ones quantised as a user would (`quantize_bundle`, what `export
--int8` runs, on a copy of the shipped bundle): the tiny StreamNet calibrated on
{acc_calib_frames} frames of a rosbag2 of an unseen synthetic clip (seed 202), the V2I student on
{v2i_calib_frames} frames of VocalFolds seq1 (its training sequence); scored on the README's
held-out driving clip (seed 101) and on VocalFolds seq2 played from a rosbag2 as the demo does
(lesion F1 at score 0.5, the demo's protocol). AP in percent. The V2I student is tiny and trained
for minutes on a CPU, so its AP is near 0 either way; its lesion F1 is the figure to compare.

""",
    'efficiency': """### 2a. StreamNet-S on ONNX Runtime CPU: % of the GEMM peak, fp32 vs int8

`scripts/bench_efficiency.py` (issue 21 items 2 and 4): the GEMM peak, the fp32 bundle and its
int8 bundle (calibrated on noise frames: latency does not depend on the scales) interleaved in
one run, {threads} thread(s), then a per-op profile of each bundle (ONNX Runtime's profiler).
% of peak = the model's GFLOP over its median time, over the best GEMM GFLOP/s of the run
(and over the best median GEMM).

""",
}
