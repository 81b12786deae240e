"""Testing utilities: TestStream, assert_that / equal_to, and the conformance harness."""

from fluvial.testing.assertions import PipelineAssertionError, assert_that, equal_to, is_empty
from fluvial.testing.test_stream import TestStream

__all__ = ["TestStream", "assert_that", "equal_to", "is_empty", "PipelineAssertionError"]
