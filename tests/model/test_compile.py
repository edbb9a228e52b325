"""torch.compile: the models with temporal ops trace into one graph, forward and backward."""

import pytest
import torch
import torch._dynamo

from model import create_model
from model.temporal import tam, tam_pairs
from tests.tiny import tiny_overrides

NAMES = ["blvnet_tam", "tam_resnet", "tsm", "tsn"]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("name", NAMES)
def test_no_graph_breaks(name: str) -> None:
    net = create_model(name, **tiny_overrides(name))
    explanation = torch._dynamo.explain(net)(torch.randn(net.input_spec.shape(2)))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("name", NAMES)
def test_fullgraph_forward_and_backward_match_eager(name: str, channels_last: bool) -> None:
    # aot_eager runs dynamo and AOTAutograd (fake tensors, the ops' autograd formulas) without
    # generating code; inductor's code generation is checked on the ops alone below.
    torch.manual_seed(0)
    net = create_model(name, **tiny_overrides(name)).eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    clip = torch.randn(net.input_spec.shape(2))
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    compiled(clip).square().sum().backward()
    compiled_grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    net(clip).square().sum().backward()
    for n, p in net.named_parameters():
        torch.testing.assert_close(compiled_grads[n], p.grad, rtol=1e-5, atol=1e-6)


def test_inductor_compiles_the_tam_ops() -> None:
    def block(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        big, little = tam_pairs(x, weight, 2, True)
        return (tam(big, weight, 2) * little).sum()

    x = torch.randn(4, 8, 5, 5, requires_grad=True)
    weight = torch.randn(8, 3, requires_grad=True)
    torch.compile(block, fullgraph=True)(x, weight).backward()
    compiled = x.grad.clone(), weight.grad.clone()
    x.grad = weight.grad = None
    block(x, weight).backward()
    torch.testing.assert_close(compiled[0], x.grad)
    torch.testing.assert_close(compiled[1], weight.grad)
