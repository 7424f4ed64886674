"""Benchmarks of opswatch: how well its detectors find labelled anomalies in public corpora.

Off the stream, beside the **detect** step: ``streams.bench.nab`` runs a detector (built with
``detectors.make_detector``, fed strictly in time order) over a Numenta Anomaly Benchmark folder
and ``streams.bench.nab_scorer`` scores the result exactly as NAB's own scorer does, so numbers
here can be set against NAB's published scoreboard.
"""
