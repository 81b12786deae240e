"""Testing utilities: TestStream and its runner-neutral TestScript, assert_that / equal_to, and
the conformance harness."""

from fluvial.testing.assertions import PipelineAssertionError, assert_that, equal_to, is_empty
from fluvial.testing.test_script import TestScript
from fluvial.testing.test_stream import TestStream

__all__ = ["TestStream", "TestScript", "assert_that", "equal_to", "is_empty", "PipelineAssertionError"]
