"""The prepare stage: raw files -> `data/<name>/` (Contract 1 in docs/ARCHITECTURE.md).

    from wrapper.prepare import PrepareOptions, prepare
    report = prepare([Path("data/raw/sample/pairs.csv")], Path("data/sample"), PrepareOptions(num_negatives=4))
    report.manifest   # the dict written as the dataset's manifest
    report.summary()  # the short human summary (the CLI prints it)

Modules: `options` (the schema), `readers` (bytes -> rows), `formats` (rows ->
normalised per-query records, a registry keyed by `Format`, over `columns`,
`rows`, `squad` and `beir`), `records` (the
collector and its row accounting), `split`, `mining`, `writers`, `manifest`,
`core` (the pipeline).
"""

from wrapper.prepare.core import PrepareReport, prepare
from wrapper.prepare.options import Format, PrepareOptions

__all__ = ["Format", "PrepareOptions", "PrepareReport", "prepare"]
