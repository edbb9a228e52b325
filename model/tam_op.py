"""TAM as custom ops: ReLU of a depthwise temporal convolution, as chunked multiply-adds.

y_t = ReLU(sum_k w_k * x_{t+k-r//2}) per channel, zero outside the clip. Why not a convolution:
oneDNN's depthwise conv3d with a (r, 1, 1) kernel ran about 10× slower than r multiply-adds on a
2-core EPYC, and the (N, C, T, H, W) view it needs costs a transposed copy each way. Why chunks:
each multiply-add then finds the frames in cache, and the backward never materialises the masked
gradient (about 2× faster than whole-tensor passes on 16×256×40×40 maps). Why ops: so that FLOP
counters still see a convolution's MACs (formulas registered below; TorchScript tracers see the
conv3d formulation instead, see ``model.temporal``), and torch.compile sees single nodes.

That is the CPU. On a GPU each multiply-add would be a kernel launch and the chunks one chunk, so
there the ops run ``tam_terms`` and ``tam_terms_backward`` (the same terms as plain tensor
operations) compiled by inductor into a few fused kernels, which allocate nothing of full size but
the outputs and the input gradient: what the fake implementations allocate, so the memory
estimate holds there too. Under torch.compile on a GPU, ``model.temporal`` traces the terms
themselves, to be fused with the layers around them.

``temporal::tam`` is a TAM over the ``frames`` frames of each clip, stored frame by frame:
(N*T, C, H, W), any memory format. ``temporal::tam_pairs`` is a TAM over 2·``pairs`` frames that
returns the odd and the even frames as two tensors; with ``duplicated`` its input holds one map per
pair of frames, standing for both. That is bLVNet's frame split, and its copy of a fused map to both
frames of a pair, without either copy. Inside, output phase p (period 1 or 2) holds frames
period·t + p.
"""

import functools
import types
from collections.abc import Callable
from math import prod

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.flop_counter import register_flop_formula

Term = tuple[int, int, int, int]  # (output block, input block, frame shift, tap)
# Frames are processed in chunks of about this many bytes (per block), so that all the work on a
# chunk happens while it is in a core's L2 cache. 1, 2 and 4 MiB ran within 3 % of each other.
CHUNK_BYTES = 2 * 2**20


def _terms(kernel: int, period: int, duplicated: bool) -> tuple[Term, ...]:
    """The shifted multiply-adds of a TAM whose frames s = period·t + p are stored by phase p.

    Output block p holds frames period·t + p. Its tap k reads frame s + k - r//2, which is frame
    t + shift of input block q (block 0 when the input is ``duplicated``: one map per period).
    Terms that cover every frame (shift 0) come first: they initialise their output block.
    """
    terms = []
    for p in range(period):
        for k in range(kernel):
            source = p + k - kernel // 2  # (not divmod: torch.compile cannot trace it)
            shift, q = source // period, source % period
            terms.append((p, 0 if duplicated else q, shift, k))
    return tuple(sorted(terms, key=lambda term: term[2] != 0))


def _frame_chunks(block: Tensor) -> list[tuple[int, int]]:
    """Frame ranges of an (N, T, C, H, W) block, each about ``CHUNK_BYTES`` large on a CPU; one
    range elsewhere (on a GPU more kernel launches would cost more than the cache saves)."""
    frames = block.shape[1]
    if block.device.type != "cpu":
        return [(0, frames)]
    step = max(1, CHUNK_BYTES // max(1, block[:, 0].numel() * block.element_size()))
    return [(start, min(frames, start + step)) for start in range(0, frames, step)]


def _span(start: int, stop: int, shift: int, frames: int) -> tuple[int, int]:
    """The frames t in [start, stop) whose source frame t + shift lies inside the clip."""
    return max(start, -shift), min(stop, frames - shift)


def _frame_blocks(x: Tensor, frames: int, period: int) -> list[Tensor]:
    """(N, T, C, H, W) views of the phases of (N*period*T, C, H, W) maps stored frame by frame."""
    nt, c, h, w = x.shape
    return list(x.view(nt // (frames * period), frames, period, c, h, w).unbind(2))


def _clip_view(x: Tensor, frames: int) -> Tensor:
    """(N*T, C, H, W) -> (N, T, C, H, W) without a copy, in any memory format."""
    nt, c, h, w = x.shape
    return x.view(nt // frames, frames, c, h, w)


def _empty_maps(like: Tensor, maps: int, dtype: torch.dtype | None = None) -> Tensor:
    """Uninitialised (maps, C, H, W), channels-last when ``like`` is."""
    layout = torch.contiguous_format
    if not like.is_contiguous() and like.is_contiguous(memory_format=torch.channels_last):
        layout = torch.channels_last
    shape = (maps, *like.shape[1:])
    dtype = dtype or like.dtype
    return torch.empty(shape, dtype=dtype, device=like.device, memory_format=layout)


def _empty_chunk(like: Tensor, clips: int, frames: int, dtype: torch.dtype | None = None) -> Tensor:
    """An uninitialised (N, frames, C, H, W) buffer laid out like ``like`` (N*T, C, H, W)."""
    return _empty_maps(like, clips * frames, dtype).unflatten(0, (clips, frames))


def _taps(weight: Tensor, like: Tensor) -> Tensor:
    """(r, C, 1, 1): tap k broadcasts over (N, T, C, H, W) with unit channel stride, which keeps
    the multiply-adds vectorised when channels are innermost (channels-last)."""
    return weight.to(like.dtype).t().contiguous()[:, :, None, None]


def _in_period(period: int, duplicated: bool) -> int:
    return 1 if duplicated else period


def _tam_into(outs: list[Tensor], x: Tensor, weight: Tensor, frames: int, duplicated: bool):
    """Write ReLU(depthwise temporal conv of x) into the output phases ``outs`` (N*T, C, H, W)."""
    period = len(outs)
    blocks = [_clip_view(out, frames) for out in outs]
    inputs = _frame_blocks(x, frames, _in_period(period, duplicated))
    taps = _taps(weight, x)
    for start, stop in _frame_chunks(blocks[0]):
        started = set()
        for p, q, shift, k in _terms(weight.shape[1], period, duplicated):
            first, last = _span(start, stop, shift, frames)
            target, source = blocks[p][:, first:last], inputs[q][:, first + shift : last + shift]
            if p not in started:
                started.add(p)
                if (first, last) == (start, stop):
                    torch.mul(source, taps[k], out=target)
                    continue
                blocks[p][:, start:stop].zero_()
            if first < last:
                target.addcmul_(source, taps[k])
        for block in blocks:
            block[:, start:stop].relu_()


@torch.library.custom_op("temporal::tam", mutates_args=())
def tam_op(x: Tensor, weight: Tensor, frames: int) -> Tensor:
    """ReLU(depthwise temporal conv) over the ``frames`` frames of each clip in x (N*T, C, H, W),
    with weight (C, r)."""
    out = _empty_maps(x, x.shape[0])
    _tam_into([out], x, weight, frames, duplicated=False)
    return out


@torch.library.custom_op("temporal::tam_pairs", mutates_args=())
def tam_pairs_op(x: Tensor, weight: Tensor, pairs: int, duplicated: bool) -> tuple[Tensor, Tensor]:
    """The same TAM over the 2·``pairs`` frames of each clip, returned as (odd frames, even
    frames), each (N*T, C, H, W); x is (N*2T, C, H, W), or (N*T, C, H, W) when ``duplicated``."""
    maps = x.shape[0] if duplicated else x.shape[0] // 2
    even, odd = _empty_maps(x, maps), _empty_maps(x, maps)
    _tam_into([even, odd], x, weight, pairs, duplicated)
    return odd, even


@torch.library.custom_op("temporal::tam_backward", mutates_args=())
def tam_backward(
    grads: list[Tensor],
    x: Tensor,
    weight: Tensor,
    outs: list[Tensor],
    frames: int,
    duplicated: bool,
    input_grad: bool,
) -> tuple[Tensor, Tensor]:
    """Gradients of a TAM for its input (empty unless ``input_grad``) and its weight; ``grads``
    and ``outs`` hold its output phases (even frames first).

    Chunk by chunk of output frames: mask the gradient by the ReLU, add its products with the
    input frames to one running sum per tap (in at least fp32), and scatter it, times the taps,
    into the input gradient, whose frames are zeroed just before they are first reached.
    """
    kernel, period, like = weight.shape[1], len(grads), outs[0]
    terms = _terms(kernel, period, duplicated)
    grads = [_clip_view(g, frames) for g in grads]
    outs = [_clip_view(out, frames) for out in outs]
    inputs = _frame_blocks(x, frames, _in_period(period, duplicated))
    taps, dtype = _taps(weight, x), torch.promote_types(x.dtype, torch.float32)
    grad_x = _empty_maps(x, x.shape[0]) if input_grad else x.new_empty(0)
    sinks = _frame_blocks(grad_x, frames, _in_period(period, duplicated)) if input_grad else []
    chunks = _frame_chunks(grads[0])
    clips, width = grads[0].shape[0], chunks[0][1]
    masked = [_empty_chunk(like, clips, width) for _ in range(period)]
    # Per tap, a chunk-sized running sum of gradient × input products, summed up at the end.
    sums = [_empty_chunk(like, clips, width, dtype).zero_() for _ in range(kernel)]
    reach, ready = max(abs(term[2]) for term in terms), 0  # sinks' frames [0, ready) are set
    for start, stop in chunks:
        for p in range(period):
            g, y = grads[p][:, start:stop], outs[p][:, start:stop]
            torch.ops.aten.threshold_backward.grad_input(
                g, y, 0, grad_input=masked[p][:, : stop - start]
            )
        if input_grad:
            for sink in sinks:
                sink[:, ready : min(frames, stop + reach)].zero_()
            ready = min(frames, stop + reach)
        for p, q, shift, k in terms:
            first, last = _span(start, stop, shift, frames)
            if first < last:
                g = masked[p][:, first - start : last - start]
                s = inputs[q][:, first + shift : last + shift]
                sums[k][:, : last - first].addcmul_(g, s)
                if input_grad:
                    sinks[q][:, first + shift : last + shift].addcmul_(g, taps[k])
    weight_grad = torch.stack([total.sum(dim=(0, 1, 3, 4)) for total in sums], dim=1)
    return grad_x, weight_grad


# On a GPU: the terms compiled. Inductor fuses the taps and the ReLU (forward), and the ReLU's
# mask, the input gradient and the weight gradient's reductions (backward); the test suite checks
# on inductor's CPU code that they allocate no full-size buffer but their outputs.


def _shifted(block: Tensor, shift: int) -> Tensor:
    """An (N, T, C, H, W) block read at frame t + shift: zero where that is outside the clip."""
    if shift == 0:
        return block
    frames = block.shape[1]
    inside = block[:, max(0, shift) : frames + min(0, shift)]
    return F.pad(inside, (0, 0, 0, 0, 0, 0, max(0, -shift), max(0, shift)))


def _channels_last(x: Tensor) -> bool:
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _in_order(x: Tensor, channels_last: bool) -> Tensor:
    """(N*T, C, H, W) maps as (N*T, H, W, C) when channels-last: the order they are stored in,
    so that what is computed from them comes out stored the same way, with no copy to reorder."""
    return x.permute(0, 2, 3, 1) if channels_last else x


def _in_maps_order(y: Tensor, channels_last: bool) -> Tensor:
    return y.permute(0, 3, 1, 2) if channels_last else y


def _tap_columns(weight: Tensor, like: Tensor, channels_last: bool) -> Tensor:
    """(r, C) or (r, C, 1, 1): tap k broadcasts over blocks in ``_in_order``'s order."""
    taps = weight.to(like.dtype).t()
    return taps if channels_last else taps[:, :, None, None]


def tam_terms(
    x: Tensor, weight: Tensor, frames: int, period: int, duplicated: bool
) -> list[Tensor]:
    """The output phases of a TAM as plain tensor operations (see ``_terms``), laid out like x:
    what runs compiled on a GPU."""
    last = _channels_last(x)
    inputs = _frame_blocks(_in_order(x, last), frames, _in_period(period, duplicated))
    taps = _tap_columns(weight, x, last)
    sums: list[Tensor | None] = [None] * period
    for p, q, shift, k in _terms(weight.shape[1], period, duplicated):
        term = _shifted(inputs[q], shift) * taps[k]
        sums[p] = term if sums[p] is None else sums[p] + term
    return [_in_maps_order(total.relu().flatten(0, 1), last) for total in sums]


def tam_terms_backward(
    grads: list[Tensor],
    x: Tensor,
    weight: Tensor,
    outs: list[Tensor],
    frames: int,
    duplicated: bool,
    input_grad: bool,
) -> tuple[Tensor, Tensor]:
    """``tam_backward`` as plain tensor operations, summed in at least fp32 like it."""
    kernel, period, last = weight.shape[1], len(grads), _channels_last(x)
    inputs = _frame_blocks(_in_order(x, last), frames, _in_period(period, duplicated))
    masked = [
        _clip_view(torch.where(y > 0, g, 0), frames)
        for g, y in zip(
            (_in_order(g, last) for g in grads), (_in_order(y, last) for y in outs), strict=True
        )
    ]
    taps, dtype = _tap_columns(weight, x, last), torch.promote_types(x.dtype, torch.float32)
    over = (0, 1, 2, 3) if last else (0, 1, 3, 4)  # all but the channels
    sinks: list[Tensor | None] = [None] * len(inputs)
    weight_grads: list[Tensor | None] = [None] * kernel
    for p, q, shift, k in _terms(kernel, period, duplicated):
        product = (masked[p].to(dtype) * _shifted(inputs[q], shift).to(dtype)).sum(dim=over)
        weight_grads[k] = product if weight_grads[k] is None else weight_grads[k] + product
        if input_grad:  # input frame t + shift receives tap k times output frame t
            term = _shifted(masked[p], -shift) * taps[k]
            sinks[q] = term if sinks[q] is None else sinks[q] + term
    grad_weight = torch.stack(weight_grads, dim=1)
    if not input_grad:
        return x.new_empty(0), grad_weight
    grad_x = torch.stack(sinks, dim=2).flatten(0, 2)  # the phases back in frame order
    return _in_maps_order(grad_x, last), grad_weight


@functools.cache
def _compiled(fn: Callable, **static: int | bool) -> Callable:
    """``fn`` compiled for one set of its int and bool arguments (``static``).

    It runs on a fresh copy of ``fn``'s code: torch.compile keeps its graphs per code object,
    so each set gets a cache of its own. Its ints then never change there, and stay constants
    (ints that changed between calls would turn symbolic, and shape the loop over the terms no
    longer); the tensors' sizes turn symbolic once a second size is seen (one recompile).
    """
    copy = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__)
    return torch.compile(functools.partial(copy, **static), fullgraph=True)


def _run_compiled(fn: Callable, *tensors, **static: int | bool):
    """``fn`` compiled, on tensors that need no gradient (the op's autograd is its own) and with
    autocast off (the op computes in its input's dtype, as on the CPU)."""
    with torch.no_grad(), torch.autocast("cuda", enabled=False):
        return _compiled(fn, **static)(*tensors)


@tam_op.register_kernel("cuda")
def _(x: Tensor, weight: Tensor, frames: int) -> Tensor:
    return _run_compiled(tam_terms, x, weight, frames=frames, period=1, duplicated=False)[0]


@tam_pairs_op.register_kernel("cuda")
def _(x: Tensor, weight: Tensor, pairs: int, duplicated: bool) -> tuple[Tensor, Tensor]:
    even, odd = _run_compiled(tam_terms, x, weight, frames=pairs, period=2, duplicated=duplicated)
    return odd, even


@tam_backward.register_kernel("cuda")
def _(grads, x, weight, outs, frames, duplicated, input_grad) -> tuple[Tensor, Tensor]:
    static = {"frames": frames, "duplicated": duplicated, "input_grad": input_grad}
    return _run_compiled(tam_terms_backward, grads, x, weight, outs, **static)


@tam_op.register_fake
def _(x: Tensor, weight: Tensor, frames: int) -> Tensor:
    return _empty_maps(x, x.shape[0])


@tam_pairs_op.register_fake
def _(x: Tensor, weight: Tensor, pairs: int, duplicated: bool) -> tuple[Tensor, Tensor]:
    maps = x.shape[0] if duplicated else x.shape[0] // 2
    return _empty_maps(x, maps), _empty_maps(x, maps)


@tam_backward.register_fake
def _(grads, x, weight, outs, frames, duplicated, input_grad) -> tuple[Tensor, Tensor]:
    grad_x = _empty_maps(x, x.shape[0]) if input_grad else x.new_empty(0)
    dtype = torch.promote_types(x.dtype, torch.float32)
    return grad_x, x.new_empty((x.shape[1], weight.shape[1]), dtype=dtype)


def _weight_and_input_grads(ctx, grads: list[Tensor], outs: list[Tensor], frames: int, dup: bool):
    x, weight = ctx.saved_tensors[:2]
    input_grad, weight_needed = ctx.needs_input_grad[:2]
    grad_x, grad_weight = tam_backward(grads, x, weight, outs, frames, dup, input_grad)
    return grad_x if input_grad else None, grad_weight.to(weight.dtype) if weight_needed else None


# A TAM's input is kept alive by the ReLU before it, its outputs by the convs after it: saving
# them costs no memory.
def _setup_tam(ctx, inputs: tuple, output: Tensor) -> None:
    x, weight, ctx.frames = inputs
    ctx.save_for_backward(x, weight, output)


def _backward_tam(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
    out = ctx.saved_tensors[2]
    return *_weight_and_input_grads(ctx, [grad], [out], ctx.frames, False), None


def _setup_tam_pairs(ctx, inputs: tuple, output: tuple[Tensor, Tensor]) -> None:
    x, weight, ctx.pairs, ctx.duplicated = inputs
    ctx.save_for_backward(x, weight, *output)


def _backward_tam_pairs(ctx, grad_odd: Tensor, grad_even: Tensor) -> tuple:
    odd, even = ctx.saved_tensors[2:]
    grads = _weight_and_input_grads(
        ctx, [grad_even, grad_odd], [even, odd], ctx.pairs, ctx.duplicated
    )
    return *grads, None, None


tam_op.register_autograd(_backward_tam, setup_context=_setup_tam)
tam_pairs_op.register_autograd(_backward_tam_pairs, setup_context=_setup_tam_pairs)


# FLOPs as for the (r, 1, 1) depthwise conv3d over all frames that the official code runs: r MACs
# per output element, 2 FLOPs per MAC, clip-end padding included; the weight gradient costs the
# same again, and so does the input gradient. A duplicated input saves no work here: each of the
# two output phases still runs r taps.
@register_flop_formula(torch.ops.temporal.tam)
def _tam_flops(x_shape: list[int], w_shape: list[int], *_, out_shape: list[int], **__) -> int:
    return 2 * w_shape[1] * prod(out_shape)


@register_flop_formula(torch.ops.temporal.tam_pairs)
def _tam_pairs_flops(x_shape: list[int], w_shape: list[int], *_, out_shape, **__) -> int:
    return 2 * w_shape[1] * sum(prod(shape) for shape in out_shape)


@register_flop_formula(torch.ops.temporal.tam_backward)
def _tam_backward_flops(grad_shapes, x_shape, w_shape, *args, **__) -> int:
    input_grad = args[-1]
    return 2 * w_shape[1] * sum(prod(s) for s in grad_shapes) * (2 if input_grad else 1)
