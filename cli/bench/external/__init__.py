"""Passthrough jobs written with other stream-processing libraries (Quix Streams, Bytewax),
run by ``fluvial bench kafka-passthrough --others PYTHON`` in a separate, throwaway Python
environment where those libraries are installed. fluvial never depends on them; these
scripts are not part of the installed package.

    python3 -m venv /tmp/others && /tmp/others/bin/pip install quixstreams bytewax
    fluvial bench kafka-passthrough --others /tmp/others/bin/python

Each script reads ``--events`` records from ``--src`` (from the start, 3 partitions) and
writes their keys and values to ``--dst`` unchanged, then prints one JSON line
``{"elapsed_s": ...}``: the time from building the job to its end, after the imports.
"""
