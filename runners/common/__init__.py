"""Machinery every runner shares (runners never import each other): the translation skeleton.

* :mod:`.graph`: the pipeline graph as a runner walks it (leaves, consumers, producers, kinds,
  error policies, the dead-letter order);
* :mod:`.fusion`: fusion passes a runner may run over its plan;
* :mod:`.translator`: per-primitive dispatch; how a runner plugs in, with a runnable toy runner;
* :mod:`.keys` and :mod:`.failures`: run-time rules every runner applies the same way (what a
  keyed transform takes as a (key, value) pair; the error a run fails with and what an error
  policy does with a failure);
* :mod:`.restart_policy`: which failures a restart from a checkpoint can heal.
"""
