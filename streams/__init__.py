"""The streaming side of opswatch: event schemas, the processing core, the Faust app, settings, CLI.

Flow: source -> validate -> detect -> incident -> rule -> sink. The processing core
(``streams.core``) is pure and synchronous, batch in and batch out; the Faust app
(``streams.app``) only moves bytes between Kafka and the core, so Faust stays at the edge.
"""
