"""The shared translation skeleton (runners/common): the graph walk (leaves, consumers,
producers, kinds, policies, dead-letter order), the fusion passes, per-kind dispatch and its
errors, the runnable examples in its docstrings, and what the direct runner builds on it."""

from __future__ import annotations

import pytest

import fluvial as fl
from fluvial.combiners import SumCombineFn
from fluvial.deadletter import DeadLetters
from fluvial.errors import PipelineConstructionError, UnsupportedFeatureError
from fluvial.ptransform import PrimitiveTransform
from fluvial.runners.common.fusion import (
    ParDoChain,
    WindowedCombine,
    fuse_pardo_chains,
    fuse_windowed_combines,
)
from fluvial.runners.common.graph import TranslationGraph, primitive_kind
from fluvial.runners.common.translator import Translator
from fluvial.runners.direct.executor import Executor
from fluvial.runners.direct.operators.pardo import ParDoOperator
from fluvial.runners.direct.operators.side_inputs import SideInputParDoOperator
from fluvial.runners.direct.operators.sliced_combine import SlicedCombineOperator
from fluvial.testing import TestStream

TIMER = fl.TimerSpec("t", fl.TimeDomain.WATERMARK)


class Stateful(fl.DoFn):
    def process(self, kv, t=fl.DoFn.TimerParam(TIMER)):
        t.set(1)
        return []

    @fl.on_timer(TIMER)
    def fire(self):
        return []


def _p():
    return fl.Pipeline(argv=[])


# -- the graph ---------------------------------------------------------------------------------
def test_kinds_of_every_primitive():
    p = _p()
    nums = p | fl.Create([("a", 1)])
    ts = p | TestStream().add_elements([("a", 2)]).advance_watermark_to_infinity()
    both = (nums, ts) | fl.Flatten()
    w = both | fl.WindowInto(fl.FixedWindows(10))
    _ = w | fl.GroupByKey()
    _ = w | fl.CombinePerKey(sum)
    _ = w | fl.ParDo(Stateful())
    _ = w | fl.Map(str)
    g = TranslationGraph(p, p.options)
    assert [primitive_kind(n) for n in g.leaves] == [
        "create", "test_stream", "flatten", "window_into", "group_by_key", "combine_per_key",
        "stateful_pardo", "pardo"]


def test_unknown_primitive_names_the_transform_and_runner():
    class Teleport(PrimitiveTransform):
        def expand_primitive(self, node, pcoll):
            return pcoll.pipeline.new_pcollection(node, pcoll.windowing, pcoll.is_bounded)

    p = _p()
    _ = p | fl.Create([1]) | "Beam me" >> Teleport()
    g = TranslationGraph(p, p.options, runner="mine")
    with pytest.raises(UnsupportedFeatureError, match="runner 'mine' cannot run transform "
                       "'Beam me': Teleport is not one of fluvial's primitives"):
        [g.kind(n) for n in g.leaves]


def test_consumers_count_side_input_readers_and_producers_are_leaves():
    p = _p()
    side = p | "Side" >> fl.Create([1])
    main = p | "Main" >> fl.Create([2])
    out = main | "Use" >> fl.Map(lambda x, s: x + s, fl.AsSingleton(side))
    _ = side | "Also" >> fl.Map(str)
    g = TranslationGraph(p, p.options)
    use = g.producer(out)
    assert use.full_label == "Use/ParDo"
    assert [pc.label for pc in use.inputs] == ["Main", "Side"]
    assert [n.full_label for n in g.consumers(side)] == ["Use/ParDo", "Also/ParDo"]
    assert g.producer(side).full_label == "Side"


def test_native_composites_are_leaves_with_their_parts_unvisited():
    p = _p()
    _ = p | fl.Create([1]) | "Shuffle" >> fl.Reshuffle() | "After" >> fl.Map(str)
    plain = TranslationGraph(p, p.options)
    assert [n.full_label for n in plain.leaves] == [
        "Create", "Shuffle/PassThrough", "After/ParDo"]
    native = TranslationGraph(p, p.options, (fl.Reshuffle,))
    assert [n.full_label for n in native.leaves] == ["Create", "Shuffle", "After/ParDo"]
    assert native.is_native(native.leaves[1]) and native.kind(native.leaves[1]) == "Reshuffle"


def test_policies_dead_letter_producers_and_order():
    p = fl.Pipeline(argv=["--on-error", "skip"])
    raw = p | fl.Create(["1", "x"])
    _ = raw | "Strict" >> fl.Map(int, on_error="fail")
    _ = raw | "Lenient" >> fl.Map(int)
    _ = raw | "ToDlq" >> fl.Map(int, on_error="dead_letter")
    kv = raw | "Key" >> fl.Map(lambda x: (x, 1), on_error="fail")
    _ = kv | "Group" >> fl.GroupByKey()
    _ = kv | "Sum" >> fl.CombinePerKey(sum, on_error="dead_letter")
    dl = p.dead_letters() | "Show" >> fl.Map(repr)
    _ = dl | "Again" >> fl.Map(len)
    g = TranslationGraph(p, p.options)
    pol = {n.full_label: g.policy(n) for n in g.leaves}
    assert pol == {"Create": "fail", "Strict/ParDo": "fail", "Lenient/ParDo": "skip",
                   "ToDlq/ParDo": "dead_letter", "Key/ParDo": "fail", "Group": "skip",
                   "Sum": "dead_letter", "DeadLetters": "fail",
                   # downstream of the dead letters the pipeline's --on-error does not apply
                   "Show/ParDo": "fail", "Again/ParDo": "fail"}
    assert [n.full_label for n in g.dead_letter_producers()] == ["ToDlq/ParDo", "Sum"]
    assert isinstance(g.dead_letters.transform, DeadLetters)
    order = [n.full_label for n in g.order()]
    assert order.index("DeadLetters") > order.index("ToDlq/ParDo")
    assert order[-3:] == ["DeadLetters", "Show/ParDo", "Again/ParDo"]


def test_dead_letters_taken_early_still_translate_after_their_producers():
    p = _p()
    dl = p.dead_letters()
    _ = dl | "Show" >> fl.Map(repr)
    _ = p | fl.Create(["x"]) | "Parse" >> fl.Map(int, on_error="dead_letter")
    g = TranslationGraph(p, p.options)
    assert [n.full_label for n in g.leaves][0] == "DeadLetters"
    assert [n.full_label for n in g.order()] == [
        "Create", "Parse/ParDo", "DeadLetters", "Show/ParDo"]


def test_a_loop_through_the_dead_letters_is_refused_when_the_graph_is_built():
    p = _p()
    _ = p | fl.Create(["x"]) | "Parse" >> fl.Map(int, on_error="dead_letter")
    _ = p.dead_letters() | "Loop" >> fl.Map(repr, on_error="dead_letter")
    with pytest.raises(PipelineConstructionError, match="'Loop/ParDo' processes p.dead_letters"):
        TranslationGraph(p, p.options)


def test_unconsumed_dead_letters_are_refused_when_the_graph_is_built():
    p = _p()
    _ = p | fl.Create(["x"]) | "Parse" >> fl.Map(int, on_error="dead_letter")
    with pytest.raises(PipelineConstructionError, match="nothing reads p.dead_letters"):
        TranslationGraph(p, p.options)


# -- fusion ------------------------------------------------------------------------------------
class Odd(fl.DoFn):
    def process(self, x):
        yield x if x % 2 == 0 else fl.TaggedOutput("odd", x)


def _shape(steps):
    out = []
    for s in steps:
        if isinstance(s, ParDoChain):
            out.append(list(s.labels))
        elif isinstance(s, WindowedCombine):
            out.append(("windowed", s.window_into.full_label, s.combine.full_label))
        else:
            out.append(s.full_label)
    return out


def test_pardo_chains_follow_single_readers_and_end_at_tags_state_and_side_inputs():
    p = _p()
    src = p | fl.Create([1, 2])
    a = src | "A" >> fl.Map(lambda x: x)
    b = a | "B" >> fl.Map(lambda x: x)
    tagged = b | "C" >> fl.ParDo(Odd()).with_outputs("odd")
    _ = tagged.main | "D" >> fl.Map(lambda x: x)      # after a tagged stage: a new chain
    _ = tagged.odd | "E" >> fl.Map(lambda x: (x, x))
    kv = src | "K" >> fl.Map(lambda x: (x, x))
    _ = kv | "S" >> fl.ParDo(Stateful())                # stateful: never fused
    side = fl.AsList(p | "Side" >> fl.Create([0]))
    _ = kv | "Two" >> fl.Map(str)                         # kv has two readers: no chain across
    _ = a | "WithSide" >> fl.Map(lambda x, s: x, side)   # a has two readers, and a side input
    g = TranslationGraph(p, p.options)
    assert _shape(fuse_pardo_chains(g, g.leaves)) == [
        "Create", "A/ParDo", ["B/ParDo", "C"], "D/ParDo", "E/ParDo", "K/ParDo",
        "S", "Side", "Two/ParDo", "WithSide/ParDo"]


def test_window_into_joins_chains_only_when_asked():
    p = _p()
    src = p | fl.Create([("a", 1)])
    a = src | "A" >> fl.Map(lambda x: x)
    w = a | "W" >> fl.WindowInto(fl.FixedWindows(10))
    b = w | "B" >> fl.Map(lambda x: x)
    _ = b | "G" >> fl.GroupByKey()                        # a grouping ends the chain
    w2 = src | "W2" >> fl.WindowInto(fl.FixedWindows(10))  # two readers: nothing fuses after
    _ = w2 | "C" >> fl.Map(str)
    _ = w2 | "D" >> fl.Map(str)
    g = TranslationGraph(p, p.options)
    assert _shape(fuse_pardo_chains(g, g.leaves)) == [
        "Create", "A/ParDo", "W", "B/ParDo", "G", "W2", "C/ParDo", "D/ParDo"]
    assert _shape(fuse_pardo_chains(g, g.leaves, window_into=True)) == [
        "Create", ["A/ParDo", "W", "B/ParDo"], "G", "W2", "C/ParDo", "D/ParDo"]
    # a WindowInto taken by the windowed-combine pass is no chain member
    p2 = _p()
    kv = p2 | fl.Create([("a", 1)]) | "K" >> fl.Map(lambda x: x)
    _ = kv | "W" >> fl.WindowInto(fl.FixedWindows(10)) | "Sum" >> fl.CombinePerKey(sum)
    g2 = TranslationGraph(p2, p2.options)
    assert _shape(fuse_pardo_chains(g2, g2.leaves, window_into=True)) == [
        "Create", ["K/ParDo", "W"], "Sum"]
    steps = fuse_windowed_combines(g2, g2.leaves, lambda wi, c: True)
    assert _shape(fuse_pardo_chains(g2, steps, window_into=True)) == [
        "Create", "K/ParDo", ("windowed", "W", "Sum")]


def test_windowed_combines_only_where_the_runner_accepts_and_the_combine_is_the_only_reader():
    p = _p()
    kv = p | fl.Create([("a", 1)])
    w1 = kv | "W1" >> fl.WindowInto(fl.FixedWindows(10))
    _ = w1 | "Sum1" >> fl.CombinePerKey(sum)
    w2 = kv | "W2" >> fl.WindowInto(fl.FixedWindows(10))
    _ = w2 | "Sum2" >> fl.CombinePerKey(sum)
    _ = w2 | "Other" >> fl.Map(str)
    w3 = kv | "W3" >> fl.WindowInto(fl.FixedWindows(10))
    _ = w3 | "Sum3" >> fl.CombinePerKey(max)
    g = TranslationGraph(p, p.options)
    steps = fuse_windowed_combines(g, g.leaves,
                                   lambda wi, c: c.full_label != "Sum3")
    assert _shape(steps) == ["Create", ("windowed", "W1", "Sum1"), "W2", "Sum2", "Other/ParDo",
                             "W3", "Sum3"]


# -- dispatch ----------------------------------------------------------------------------------
class Recorder(Translator):
    runner = "rec"

    def __init__(self, pipeline, options):
        super().__init__(pipeline, options)
        self.calls = []

    def _rec(self, step):
        self.calls.append((self.step_method(step), step.full_label))
        for tag in step.outputs:
            self.set_output(step, f"<{step.full_label}:{tag}>", tag)

    create = pardo = flatten = dead_letters = _rec

    def pardo_chain(self, chain):
        self.calls.append(("pardo_chain", chain.labels, self.input(chain.first)))
        self.set_output(chain.last, "<chain>")

    def plan(self):
        return fuse_pardo_chains(self.graph, super().plan())


def test_dispatch_in_plan_order_with_handles_between_steps():
    p = _p()
    _ = p | fl.Create(["1"]) | "A" >> fl.Map(int, on_error="dead_letter") | "B" >> fl.Map(str)
    _ = p.dead_letters() | "Show" >> fl.Map(repr)
    t = Recorder(p, p.options).translate()
    assert t.calls == [
        ("create", "Create"),
        ("pardo_chain", ("A/ParDo", "B/ParDo"), "<Create:None>"),
        ("dead_letters", "DeadLetters"),
        ("pardo", "Show/ParDo"),
    ]


def test_a_kind_without_a_method_is_refused_naming_the_transform():
    p = _p()
    _ = p | fl.Create([("a", 1)]) | "Group" >> fl.GroupByKey()
    with pytest.raises(UnsupportedFeatureError,
                       match="runner 'rec' cannot run transform 'Group': group_by_key "
                             r"\(GroupByKey\) has no translation on this runner"):
        Recorder(p, p.options).translate()


def test_an_input_without_a_handle_is_a_clear_error():
    class Forgetful(Recorder):
        def create(self, node):
            pass  # forgets set_output

    p = _p()
    _ = p | fl.Create([1]) | "A" >> fl.Map(str) | "B" >> fl.Map(len)
    with pytest.raises(RuntimeError, match="'Create' must be translated first"):
        Forgetful(p, p.options).translate()


# -- the direct runner on the skeleton ---------------------------------------------------------
def test_direct_runner_builds_fused_and_side_input_operators():
    p = _p()
    src = p | fl.Create([("a", 1)])
    chained = src | "A" >> fl.Map(lambda kv: kv) | "B" >> fl.Map(lambda kv: kv)
    _ = chained | fl.WindowInto(fl.FixedWindows(10)) | "Sum" >> fl.CombinePerKey(SumCombineFn())
    side = p | "Side" >> fl.Create([1])
    _ = src | "Use" >> fl.Map(lambda kv, s: kv, fl.AsSingleton(side))
    ex = Executor(p, p.options)
    by_label = {op.label: op for op in ex.ops}
    assert isinstance(by_label["A/ParDo"], ParDoOperator)
    assert by_label["A/ParDo"].labels == ["A/ParDo", "B/ParDo"]
    assert isinstance(by_label["Sum"], SlicedCombineOperator)
    assert isinstance(by_label["Use/ParDo"], SideInputParDoOperator)
    assert by_label["Use/ParDo"].n_inputs == 2
    assert [s.label for s in ex.sources] == ["Create", "Side"]
