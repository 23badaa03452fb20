"""autorerank: fine-tune a reranker on your own data.

The package is organised by pipeline stage; each stage reads the artefact the
previous one wrote (see docs/ARCHITECTURE.md):

    prepare  -> data/<name>/                     (wrapper.prepare)
    config   -> autotrain_configs/<name>.yml     (wrapper.config)
    train    -> runs/<run-id>/                   (wrapper.train)
    evaluate -> results/                         (wrapper.evaluate)
    leaderboard reads results/ and runs/         (wrapper.leaderboard, dashboards/)

The command line (wrapper.cli) is a thin shell over these modules.
"""

__version__ = "0.1.0"
