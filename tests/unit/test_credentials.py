"""One scrubber for URIs in tags, printed lines and spool headers: no credential survives it, the store stays named."""

import pytest

from metrictap.credentials import scrub, scrub_text


@pytest.mark.parametrize(("uri", "safe"), [
    ("https://user:s3cret@mlflow.example.com", "https://mlflow.example.com"),
    ("http://alice:se@cret456@host:5000", "http://host:5000"),
    ("http://token@host:5000/path", "http://host:5000/path"),
    ("https://host/api?sig=abc&x=1&access_token=t0k#frag", "https://host/api?x=1"),
    ("postgresql://bob:pw@db/mlflow", "postgresql://db/mlflow"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ("databricks", "databricks"),
    ("azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/x", "azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/x"),
])
def test_uri_keeps_no_credential(uri, safe):
    """User info (up to the last @), secret query values and fragments are removed; scheme, host and path stay."""
    assert scrub(uri) == safe


def test_text_scrubs_every_url():
    """Every URL in a command line or an error message is scrubbed, wherever it stands in the text."""
    line = ("metrictap train --tracking_uri=http://alice:se@cret456@10.0.0.1:5000 "
            "'API request to https://bob:pw@host/api/2.0?token=abc failed'")
    scrubbed = scrub_text(line)
    assert "cret456" not in scrubbed
    assert "pw@" not in scrubbed
    assert "abc" not in scrubbed
    assert scrubbed == ("metrictap train --tracking_uri=http://10.0.0.1:5000 "
                        "'API request to https://host/api/2.0 failed'")
