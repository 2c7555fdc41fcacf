"""Synthesize the LeanVibe platform into dist/production and dist/dev.

Run with `cdk8s synth` (which sets CDK8S_OUTDIR from cdk8s.yaml) or `python main.py`;
both write the same files.
"""

import os

from leanvibe_constructs.platform import synth

if __name__ == "__main__":
    for folder in synth(os.environ.get("CDK8S_OUTDIR", "dist")):
        print(f"synthesized {folder}")
