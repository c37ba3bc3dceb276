"""One deploy path: the README and both languages of docs/deploy.md run the same bootstrap and
selftest, as the runtime account, with KMC_SERVICE_ACCOUNT set (issue 15, defect 3)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEPLOY = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
INDONESIAN = DEPLOY[DEPLOY.index("## Bahasa Indonesia"):DEPLOY.index("## English")]
ENGLISH = DEPLOY[DEPLOY.index("## English"):DEPLOY.index("## Observing")]


def blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def bootstrap_blocks(text: str) -> list[str]:
    return [b for b in blocks(text) if re.search(r"main\.py bootstrap\b", b) and "KMC_BACKEND=google" in b
            and "SHEETS_EMULATOR_HOST" not in b]


def test_the_bootstrap_block_is_the_same_in_readme_and_both_languages():
    (indonesian,) = bootstrap_blocks(INDONESIAN)
    (english,) = bootstrap_blocks(ENGLISH)
    (readme,) = bootstrap_blocks(README)
    assert indonesian == english == readme


def test_bootstrap_runs_as_the_runtime_account_and_names_it():
    (block,) = bootstrap_blocks(ENGLISH)
    assert "--impersonate-service-account=\"$RUNTIME\"" in block
    assert 'KMC_SERVICE_ACCOUNT="$RUNTIME"' in block
    assert block.index("KMC_SERVICE_ACCOUNT") < block.index("main.py bootstrap") < block.index("main.py selftest")
    assert "RUNTIME=kmc-runtime@" in block and "serviceAccountTokenCreator" in block


def test_no_other_google_bootstrap_runs_without_the_runtime_account():
    for text in (README, DEPLOY):
        for block in blocks(text):
            if re.search(r"main\.py bootstrap\b", block) and "KMC_BACKEND=google" in block:
                assert "KMC_SERVICE_ACCOUNT" in block, block


def test_selftest_is_the_last_step_of_the_deploy_guide_in_both_languages():
    for part in (INDONESIAN, ENGLISH):
        last = re.split(r"^### \d+\. ", part, flags=re.M)[-1]
        assert "python3 main.py selftest" in last
        assert "GAGAL" in last and "Perbaiki:" in last
