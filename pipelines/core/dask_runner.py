"""Beam's DaskRunner, fixed for our jobs: every PCollection is a dask bag of WindowedValues, keyed by the
PCollection itself (so each tag of a multi-output ParDo is its own bag), and every bag nobody consumes
is computed, on the cluster named by --dask_client_address.

Beam 2.77's runner (apache_beam/runners/dask) loses data in ways our jobs hit; each workaround below
names the Beam issue it matches, where a search of apache/beam found one (searched 2026-12).
"""

import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import dask
import dask.bag as db
from apache_beam import ParDo, pvalue
from apache_beam.internal import pickler
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import DoFnRunner, Receiver
from apache_beam.runners.dask.dask_runner import DaskOptions
from apache_beam.runners.dask.dask_runner import DaskRunner as BeamDaskRunner
from apache_beam.runners.dask.overrides import _Create, _Flatten, _GroupByKeyOnly, _Reshuffle, dask_overrides
from apache_beam.runners.runner import PipelineResult, PipelineState
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

# Without --dask_npartitions Beam's Create puts up to 128 elements in one partition, so a job of a few
# shards ran on one worker (apache/beam#26669 is this default capping a cluster's parallelism). Ours:
# one partition per element, at most this many per worker thread.
PARTITIONS_PER_THREAD = 2


class _ListReceiver(Receiver):
    def __init__(self):
        self.values: list[WindowedValue] = []

    def receive(self, windowed_value: WindowedValue) -> None:
        self.values.append(windowed_value)


class _Receivers(dict):
    """One receiver per declared output tag; a tag nobody declared is dropped, as on Beam's direct runner."""

    def __missing__(self, tag):
        return _ListReceiver()


@dataclass(frozen=True)
class _Step:
    """What a task needs to run one ParDo over one partition (a bundle)."""

    run: str  # this pipeline run: DoFns are reused per run and worker, then torn down
    label: str
    fn: Any
    args: tuple
    kwargs: dict
    views: tuple  # (view class, view options) per side input
    windowing: Any
    tags: tuple  # output tags, None (the main output) first


# DoFns set up in this worker process: idle ones by (run, step), and every one of a run for teardown.
# Beam's runner set a DoFn up and tore it down for every partition (a model reload per partition; no
# Beam issue found, searched 2026-12): a DoFn here is set up once per worker thread and reused.
_LOCK = threading.Lock()
_IDLE: dict[tuple[str, str], list] = {}
_MADE: dict[str, list[DoFnRunner]] = {}


def _acquire(step: _Step, sides: tuple) -> tuple[DoFnRunner, dict]:
    with _LOCK:
        idle = _IDLE.get((step.run, step.label))
        if idle:
            return idle.pop()
    receivers = {tag: _ListReceiver() for tag in step.tags}
    maps = [SideInputMap(view, options, values) for (view, options), values in zip(step.views, sides, strict=True)]
    # A copy per runner: threads of one worker may share the task's deserialised DoFn.
    runner = DoFnRunner(pickler.loads(pickler.dumps(step.fn)), step.args, step.kwargs, maps, step.windowing,
                        tagged_receivers=_Receivers(receivers), step_name=step.label)
    runner.setup()
    with _LOCK:
        _MADE.setdefault(step.run, []).append(runner)
    return runner, receivers


def _run_bundle(partition, step: _Step, *sides: list) -> dict:
    """One partition through one ParDo: its outputs by tag."""
    runner, receivers = _acquire(step, sides)
    runner.start()
    for windowed_value in partition:
        runner.process(windowed_value)
    # Outputs are collected after finish_bundle, which emits too (BatchElements' last batch); Beam's
    # runner collected them before and dropped those (no Beam issue found, searched 2026-12).
    runner.finish()
    outputs = {tag: receiver.values for tag, receiver in receivers.items()}
    for receiver in receivers.values():
        receiver.values = []
    with _LOCK:
        _IDLE.setdefault((step.run, step.label), []).append((runner, receivers))
    return outputs


def _output(outputs: dict, tag) -> list:
    return outputs[tag]


def _teardown(run: str) -> None:
    """Run on every worker at the end of a run: tear down its DoFns."""
    with _LOCK:
        runners = _MADE.pop(run, [])
        for key in [key for key in _IDLE if key[0] == run]:
            del _IDLE[key]
    for runner in runners:
        runner.teardown()


def _windowed(values: list) -> list[WindowedValue]:
    return [GlobalWindows.windowed_value(value) for value in values]


def _deal(partition, offset: int, count: int) -> tuple[list, ...]:
    """A partition dealt round-robin into `count` lists, starting at `offset`."""
    hands: tuple[list, ...] = tuple([] for _ in range(count))
    for position, element in enumerate(partition):
        hands[(offset + position) % count].append(element)
    return hands


def _gather(*hands: list) -> list:
    return [element for hand in hands for element in hand]


def _group_key(windowed_value: WindowedValue):
    return windowed_value.value[0]


def _grouped(group: tuple) -> WindowedValue:
    # Values stay the WindowedValues ReifyWindows made: _GroupAlsoByWindow (run as a ParDo) needs them.
    key, elements = group
    return GlobalWindows.windowed_value((key, [element.value[1] for element in elements]))


def _concat(partitions: list[list]) -> list:
    return [element for partition in partitions for element in partition]


def _count(partition) -> list[int]:
    return [sum(1 for _ in partition)]


class _BagVisitor(PipelineVisitor):
    """Translates each primitive transform into dask bag operations, one bag per PCollection."""

    def __init__(self, run: str, partitions: int | None, partition_size: int | None, default_partitions: int):
        self.run, self.partitions, self.partition_size = run, partitions, partition_size
        self.default_partitions = default_partitions
        self.bags: dict[pvalue.PCollection, db.Bag] = {}
        self.consumed: set[pvalue.PCollection] = set()

    def leaves(self) -> list[db.Bag]:
        """The bags nobody reads: computing them all runs every branch of the pipeline."""
        return [bag for pcoll, bag in self.bags.items() if pcoll not in self.consumed]

    def visit_transform(self, node: AppliedPTransform) -> None:
        transform = node.transform
        inputs = [pcoll for pcoll in node.main_inputs.values() if isinstance(pcoll, pvalue.PCollection)]
        self.consumed.update(inputs)
        self.consumed.update(side.pvalue for side in node.side_inputs)
        bags = [self.bags[pcoll] for pcoll in inputs]
        if isinstance(transform, _Create):
            self._put(node, self._create(list(transform.values)))
        elif isinstance(transform, _Flatten):
            self._put(node, db.concat(bags))
        elif isinstance(transform, _Reshuffle):
            self._put(node, self._spread(bags[0]))
        elif isinstance(transform, _GroupByKeyOnly):
            # A task shuffle: dask's disk shuffle keeps its data in one process (partd).
            self._put(node, bags[0].groupby(_group_key, shuffle="tasks").map(_grouped))
        elif isinstance(transform, ParDo):  # _GroupAlsoByWindow and WindowInto are ParDos too
            self._pardo(node, bags[0])
        else:
            raise NotImplementedError(f"the DaskRunner cannot run {node.full_label} ({type(transform).__name__}); "
                                      "run this job on the local runner (no --runner flag)")

    def _put(self, node: AppliedPTransform, bag: db.Bag) -> None:
        self.bags[node.outputs[None]] = bag

    def _create(self, values: list) -> db.Bag:
        if self.partition_size:
            return db.from_sequence(_windowed(values), partition_size=self.partition_size)
        partitions = self.partitions or min(max(len(values), 1), self.default_partitions)
        return db.from_sequence(_windowed(values), npartitions=partitions)

    def _spread(self, bag: db.Bag) -> db.Bag:
        """Reshuffle as a real redistribution: each partition dealt round-robin over new partitions.

        Beam's runner replaced Reshuffle by a no-op, so what one FlatMap made stayed on its worker
        (no Beam issue found, searched 2026-12)."""
        count = self.partitions or self.default_partitions
        dealt = [dask.delayed(_deal, nout=count, pure=True)(part, offset, count)
                 for offset, part in enumerate(bag.to_delayed(optimize_graph=False))]
        return db.from_delayed([dask.delayed(_gather, pure=True)(*[hands[i] for hands in dealt])
                                for i in range(count)])

    def _pardo(self, node: AppliedPTransform, bag: db.Bag) -> None:
        transform = node.transform
        # Side inputs are materialised once, as dask Items every partition's task receives: Beam's runner
        # iterated the side input's bag inside each task, recomputing it or failing on a distributed
        # worker (apache/beam#27618 and #23913, "Windowing Support for the DaskRunner", left side
        # inputs unfinished).
        sides = [self.bags[side.pvalue].reduction(list, _concat) for side in node.side_inputs]
        tags = (None, *sorted(tag for tag in node.outputs if tag is not None))
        step = _Step(self.run, node.full_label, transform.fn, tuple(transform.args), dict(transform.kwargs),
                     tuple((type(side), side._view_options()) for side in node.side_inputs),
                     node.main_inputs[next(iter(node.main_inputs))].windowing, tags)
        # Tasks named for the step, so the task stream shows which ran where.
        outputs = bag.map_partitions(_run_bundle, step, *sides, token=re.sub(r"\W+", "_", node.full_label))
        # One bag per tag: Beam's runner keyed bags by transform and gave every consumer of a
        # multi-output ParDo all of its tags (no Beam issue found, searched 2026-12).
        for tag, pcoll in node.outputs.items():
            self.bags[pcoll] = outputs.map_partitions(_output, tag)


class DaskRunner(BeamDaskRunner):
    """Beam's DaskRunner with the workarounds above; runs the pipeline to the end before returning."""

    def run_pipeline(self, pipeline, options) -> PipelineResult:
        from dask import distributed

        dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        # Not the default client: a user's own client stays the current one.
        client = distributed.Client(**dask_options, set_as_default=False)
        run = uuid.uuid4().hex
        try:
            threads = sum(client.nthreads().values()) or 1
            pipeline.replace_all(dask_overrides())
            visitor = _BagVisitor(run, bag_kwargs.get("npartitions"), bag_kwargs.get("partition_size"),
                                  threads * PARTITIONS_PER_THREAD)
            pipeline.visit(visitor)
            # Every leaf, not only the last bag visited as in Beam's runner, which left branches that do
            # not feed it unrun (no Beam issue found, searched 2026-12). Counts come back, not rows.
            client.gather(client.compute([leaf.map_partitions(_count) for leaf in visitor.leaves()]))
        finally:
            try:
                client.run(_teardown, run)
            finally:
                # Beam's runner left its client open (no Beam issue found, searched 2026-12).
                client.close()
        return PipelineResult(PipelineState.DONE)
