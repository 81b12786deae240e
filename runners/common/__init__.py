"""Machinery every runner shares (runners never import each other): the translation skeleton.

* :mod:`.graph`: the pipeline graph as a runner walks it (leaves, consumers, producers, kinds,
  error policies, the dead-letter order);
* :mod:`.fusion`: fusion passes a runner may run over its plan;
* :mod:`.translator`: per-primitive dispatch; how a runner plugs in, with a runnable toy runner.
"""
