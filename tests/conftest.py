from collections.abc import Iterator

import pytest
from fakeslack import FakeSlack


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack Web API; aim clients at ``fake_slack.api_url``."""
    with FakeSlack() as fake:
        yield fake
