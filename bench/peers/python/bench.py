"""Python protobuf (upb) on the reference documents: JSON parse and write
(json_format) and binary encode and decode (SerializeToString, FromString, and
FromString followed by a pass that reads every field).

Usage: bench.py SECONDS FILE...  Prints one JSON line per document with the
best throughput of five rounds, in MiB/s of the document's JSON size (the
binary rows also in MiB/s of the binary size), so the Rust driver can print
ratios measured in the same run.
"""

import json
import sys
import time

from google.protobuf import json_format
from google.protobuf.internal import api_implementation
from google.cloud.audit import audit_log_pb2  # noqa: F401  (Any payloads)
from google.cloud import servicecontrol_v1

ReportRequest = servicecontrol_v1.ReportRequest.pb()
MIB = 1 << 20


def best_rate(seconds, size, operation):
    """The best of five rounds of `operation`, in MiB/s of `size` bytes."""
    best = 0.0
    for _ in range(5):
        count = 0
        start = time.perf_counter()
        while True:
            operation()
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 5:
                break
        best = max(best, count * size / elapsed / MIB)
    return best


def touch(message):
    """Reads every field set in `message`, nested messages too (a pass like
    the Rust side's over its views): how many values it read."""
    count = 0
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key in value:
                entry = value[key]
                count += 1 + (touch(entry) if hasattr(entry, "ListFields") else 0)
        elif field.message_type is not None:
            if field.is_repeated:
                for element in value:
                    count += touch(element)
            else:
                count += touch(value)
        elif field.is_repeated:
            count += len(value)
        else:
            count += 1
    return count


def main():
    seconds = float(sys.argv[1])
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            text = f.read()
        message = json_format.Parse(text, ReportRequest())
        binary = message.SerializeToString(deterministic=True)
        compact = json_format.MessageToJson(message, indent=None)
        result = {
            "file": path,
            "implementation": api_implementation.Type(),
            "json_bytes": len(text),
            "binary_bytes": len(binary),
            "json_parse": best_rate(seconds, len(text), lambda: json_format.Parse(text, ReportRequest())),
            "json_write": best_rate(seconds, len(text), lambda: json_format.MessageToJson(message, indent=None)),
            "binary_encode": best_rate(seconds, len(binary), lambda: message.SerializeToString(deterministic=True)),
            "binary_decode": best_rate(seconds, len(binary), lambda: ReportRequest.FromString(binary)),
            "binary_decode_read": best_rate(seconds, len(binary), lambda: touch(ReportRequest.FromString(binary))),
            "compact_json_bytes": len(compact),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
