"""The official Python protobuf implementation, answering one JSON request per
line on stdin with one JSON line on stdout, so Rust tests can stream thousands
of cases through a single process.

Requests ("op" selects):
  describe   {"types": [full names]} -> the descriptors of those messages and
             of every message and enum they reach, for schema comparison.
  describe_service {"service"} -> its methods with their HTTP bindings.
  roundtrip  {"type", "binary" (base64), "json"} -> parses both, and answers
             whether they are equal, whether anything was unknown, and the
             reference's own deterministic binary and canonical JSON.
  parse_json {"type", "json", "ignore_unknown"} -> the binary of the parsed
             message, or the error.
  to_json    {"type", "binary"} -> canonical JSON, or the error.
  grpc_call  {"target", "method", "json"} -> the JSON answer of a Service
             Control call made with the official client.
  http_post  {"url", "body"} -> the status and body of a JSON POST.
"""

import base64
import json
import sys

from google.protobuf import descriptor_pool, json_format, message_factory, unknown_fields
from google.protobuf import any_pb2, duration_pb2, empty_pb2, struct_pb2, timestamp_pb2, wrappers_pb2  # noqa: F401
from google.api import annotations_pb2, distribution_pb2, http_pb2  # noqa: F401
from google.logging.type import log_severity_pb2  # noqa: F401
from google.rpc import code_pb2, error_details_pb2, status_pb2  # noqa: F401
from google.rpc.context import attribute_context_pb2  # noqa: F401
from google.cloud.audit import audit_log_pb2  # noqa: F401
from google.cloud import servicecontrol_v1

# The proto-plus wrappers register the raw classes in the default pool;
# touching each type makes sure its file is loaded.
for name in dir(servicecontrol_v1):
    wrapper = getattr(servicecontrol_v1, name)
    if hasattr(wrapper, "pb"):
        try:
            wrapper.pb()
        except TypeError:
            pass

POOL = descriptor_pool.Default()


def message_class(full_name):
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))


def has_unknown(message):
    if len(unknown_fields.UnknownFieldSet(message)):
        return True
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None and any(has_unknown(v) for v in value.values()):
                return True
        elif field.is_repeated:
            if any(has_unknown(v) for v in value):
                return True
        elif has_unknown(value):
            return True
    return False


def describe(types):
    messages, enums, todo = {}, {}, list(types)
    while todo:
        desc = POOL.FindMessageTypeByName(todo.pop())
        if desc.full_name in messages:
            continue
        fields = []
        for f in desc.fields:
            real_oneof = f.containing_oneof is not None and not (
                len(f.containing_oneof.fields) == 1 and f.containing_oneof.name == "_" + f.name
            )
            fields.append({
                "number": f.number,
                "name": f.name,
                "json_name": f.json_name,
                "type": f.type,
                "type_name": (f.message_type or f.enum_type).full_name if (f.message_type or f.enum_type) else "",
                "repeated": f.is_repeated,
                "oneof": f.containing_oneof.name if real_oneof else "",
                "presence": f.has_presence,
            })
            if f.message_type is not None:
                todo.append(f.message_type.full_name)
            if f.enum_type is not None:
                e = f.enum_type
                enums[e.full_name] = {v.name: v.number for v in e.values}
        messages[desc.full_name] = {"fields": fields, "map_entry": desc.GetOptions().map_entry}
    return {"messages": messages, "enums": enums}


def repack_any(message):
    """Re-packs every Any inside `message` with deterministic serialization:
    json_format packs the payloads it parses in map iteration order."""
    if message.DESCRIPTOR.full_name == "google.protobuf.Any" and message.type_url:
        name = message.type_url.rsplit("/", 1)[-1]
        payload = message_class(name).FromString(message.value)
        repack_any(payload)
        message.value = payload.SerializeToString(deterministic=True)
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for v in value.values():
                    repack_any(v)
        elif field.is_repeated:
            for v in value:
                repack_any(v)
        else:
            repack_any(value)


def deterministic(message):
    repack_any(message)
    return base64.b64encode(message.SerializeToString(deterministic=True)).decode()


def canonical(message):
    return json.dumps(json_format.MessageToDict(message), sort_keys=True)


def roundtrip(request):
    cls = message_class(request["type"])
    from_binary = cls.FromString(base64.b64decode(request["binary"]))
    from_json = json_format.Parse(request["json"], cls())
    return {
        # Any payloads compare by content, not by their packed bytes.
        "equal": canonical(from_binary) == canonical(from_json),
        "unknown": has_unknown(from_binary),
        "json": json_format.MessageToJson(from_binary, indent=None),
        # Any payloads stay as we packed them: the bytes must be ours.
        "binary": base64.b64encode(from_binary.SerializeToString(deterministic=True)).decode(),
    }


def parse_json(request):
    cls = message_class(request["type"])
    message = json_format.Parse(
        request["json"], cls(), ignore_unknown_fields=request.get("ignore_unknown", False)
    )
    return {"binary": deterministic(message)}


def to_json(request):
    cls = message_class(request["type"])
    message = cls.FromString(base64.b64decode(request["binary"]))
    return {"json": json_format.MessageToJson(message, indent=None)}


def describe_service(full_name):
    """The methods of a Service Control service and their HTTP bindings, as
    the GAPIC REST transport has them (the proto-plus package registers no
    service descriptors)."""
    import importlib
    import re

    service = full_name.rsplit(".", 1)[1]
    module_name = re.sub(r"(?<!^)(?=[A-Z])", "_", service).lower()
    module = importlib.import_module(
        f"google.cloud.servicecontrol_v1.services.{module_name}.transports.rest_base"
    )
    transport = getattr(module, f"_Base{service}RestTransport")
    methods = {}
    for name in dir(transport):
        if name.startswith("_Base") and hasattr(getattr(transport, name), "_get_http_options"):
            rules = getattr(transport, name)._get_http_options()
            methods[name[len("_Base"):]] = [
                {rule["method"]: rule["uri"], **({"body": rule["body"]} if "body" in rule else {})}
                for rule in rules
            ]
    return {"methods": methods}


def grpc_call(request):
    """Calls a ServiceController or QuotaController method with the official
    GAPIC client over an insecure channel; the request and the answer are
    canonical JSON."""
    import grpc
    from google.cloud.servicecontrol_v1.services.quota_controller.transports import (
        QuotaControllerGrpcTransport,
    )
    from google.cloud.servicecontrol_v1.services.service_controller.transports import (
        ServiceControllerGrpcTransport,
    )

    channel = grpc.insecure_channel(request["target"])
    method = request["method"]
    if method == "allocate_quota":
        client = servicecontrol_v1.QuotaControllerClient(
            transport=QuotaControllerGrpcTransport(channel=channel)
        )
        wrapper = servicecontrol_v1.AllocateQuotaRequest
    else:
        client = servicecontrol_v1.ServiceControllerClient(
            transport=ServiceControllerGrpcTransport(channel=channel)
        )
        wrapper = {"check": servicecontrol_v1.CheckRequest, "report": servicecontrol_v1.ReportRequest}[method]
    raw = json_format.Parse(request["json"], wrapper.pb(wrapper()))
    repack_any(raw)
    from google.api_core import exceptions

    try:
        response = getattr(client, method)(request=wrapper.wrap(raw), timeout=10)
    except exceptions.GoogleAPICallError as e:
        # api_core reads the rich details from grpc-status-details-bin.
        return {
            "error_code": e.grpc_status_code.value[0],
            "message": e.message,
            "details": [
                json_format.MessageToJson(_pack(d), indent=None) for d in e.details
            ],
        }
    finally:
        channel.close()
    return {"json": json_format.MessageToJson(type(response).pb(response), indent=None)}


def _pack(detail):
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def http_post(request):
    """POSTs a JSON body with the standard library; the status and body."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        request["url"],
        data=request["body"].encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return {"status": response.status, "body": response.read().decode()}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode()}


HANDLERS = {
    "describe": lambda r: describe(r["types"]),
    "describe_service": lambda r: describe_service(r["service"]),
    "roundtrip": roundtrip,
    "parse_json": parse_json,
    "to_json": to_json,
    "grpc_call": grpc_call,
    "http_post": http_post,
}


def main():
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer = HANDLERS[request["op"]](request)
        except Exception as e:  # every failure is an answer, never a crash
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
