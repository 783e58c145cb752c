"""The emitter SDK: what an agent imports to send trace events.

Light on purpose: importing it loads kafka-python (lazily, on first send),
orjson and uuid6, never DuckDB, spaCy, Presidio, Polars or FastAPI.

    from tracelake.sdk import Client, tool

    client = Client(bootstrap="127.0.0.1:9092", tenant="acme")
    with client.run("refund_request", "v3", input="refund order 8812") as run:
        with run.span("llm_call", model="gpt-small") as call:
            call.update(input_tokens=1450, output_tokens=120)
        get_order("8812")          # a @tool-decorated function
    client.close()
"""

from tracelake.sdk.client import Client, Run, Span, current_run, new_event_id, now_ts, tool
from tracelake.sdk.config import SdkConfig
from tracelake.sdk.flags import Admission, Flag, FlagReader, HttpFlagSource, RunRefused
from tracelake.sdk.sender import SenderStats

__all__ = [
    "Admission",
    "Client",
    "Flag",
    "FlagReader",
    "HttpFlagSource",
    "Run",
    "RunRefused",
    "SdkConfig",
    "SenderStats",
    "Span",
    "current_run",
    "new_event_id",
    "now_ts",
    "tool",
]
