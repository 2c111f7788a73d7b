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
  http_post  {"url", "body", "headers"?} -> the status and body of a JSON
             POST made with requests.
  http_proto {"url", "type", "json", "response", "headers"?} -> a call made
             the way ESP and ESPv2 make it: the request (given as JSON) POSTed
             as binary protobuf (application/x-protobuf); the status, the
             content type, and the answer read as binary: the response type
             on 200, google.rpc.Status otherwise, as canonical JSON.
  service_yaml {"yaml"} -> a service configuration read the way Python
             tools read one: PyYAML, the `type` key dropped, then
             json_format.ParseDict into google.api.Service; canonical JSON,
             or the error.
  mask       {"type", "json", "mask"} -> the message cut down to a FieldMask
             given in its JSON form (FieldMask.MergeMessage), as JSON.
  start_servers {} -> ports of a grpcio server and an HTTP (REST) server of
             ServiceController built on the official classes.
  served     {} -> what those servers received, in order.
  gapic      {"url", "token", "method", "request"} -> a call made with
             Google's generated client (google-cloud-service-control) over
             its REST transport, as users call it: `$alt=json;enum-encoding=int`,
             enums as numbers in the body, its x-goog-* headers, the token as
             a bearer credential. The answer as canonical JSON, or the typed
             exception google-api-core raised: its class, HTTP status, message
             and details.
"""

import base64
import json
import sys

from google.protobuf import descriptor_pool, json_format, message_factory, unknown_fields
from google.protobuf import any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2  # noqa: F401
from google.api import annotations_pb2, distribution_pb2, http_pb2, service_pb2  # noqa: F401
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
    """POSTs a JSON body with requests; the status and body."""
    import requests

    response = requests.post(
        request["url"],
        data=request["body"].encode(),
        headers={"Content-Type": "application/json", **request.get("headers", {})},
        timeout=10,
    )
    return {"status": response.status_code, "body": response.text}


def http_proto(request):
    """Calls as ESP does: binary protobuf over HTTP."""
    import requests

    message = json_format.Parse(request["json"], message_class(request["type"])())
    response = requests.post(
        request["url"],
        data=message.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", **request.get("headers", {})},
        timeout=10,
    )
    answer_type = request["response"] if response.status_code == 200 else "google.rpc.Status"
    answer = message_class(answer_type).FromString(response.content)
    return {
        "status": response.status_code,
        "content_type": response.headers.get("Content-Type", ""),
        "json": json_format.MessageToJson(answer, indent=None),
    }


def mask(request):
    cls = message_class(request["type"])
    source = json_format.Parse(request["json"], cls())
    field_mask = field_mask_pb2.FieldMask()
    field_mask.FromJsonString(request["mask"])
    cut = cls()
    field_mask.MergeMessage(source, cut)
    return {"json": json_format.MessageToJson(cut, indent=None)}


SERVED = []  # what the reference servers received: {"wire", "method", "binary"}
RUNNING = []  # the servers, kept alive for the life of the process


def service_yaml(request):
    import yaml
    from google.api import service_pb2 as service

    document = yaml.safe_load(request["yaml"])
    if not isinstance(document, dict) or document.pop("type", None) != "google.api.Service":
        return {"error": "not a google.api.Service configuration"}
    try:
        message = json_format.ParseDict(document, service.Service())
    except json_format.ParseError as e:
        return {"error": str(e)}
    return {"json": canonical(message)}


def start_servers(_request):
    """Starts a grpcio server of ServiceController (Check, Report) and an HTTP
    server of its REST bindings on 127.0.0.1, both answering with the official
    classes; their ports."""
    import threading
    from concurrent import futures
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import grpc

    check_cls = servicecontrol_v1.CheckRequest.pb()
    report_cls = servicecontrol_v1.ReportRequest.pb()
    check_response = servicecontrol_v1.CheckResponse.pb()
    report_response = servicecontrol_v1.ReportResponse.pb()

    def answer_report(req):
        return report_response(service_config_id="py-" + req.service_name)

    def answer_check(req):
        return check_response(operation_id=req.operation.operation_id, service_config_id="py-check")

    def record(wire, method, message):
        SERVED.append({"wire": wire, "method": method, "binary": deterministic(message)})

    def grpc_handler(method, cls, answer):
        def handle(req, _context):
            record("grpc", method, req)
            return answer(req)

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=cls.FromString, response_serializer=lambda m: m.SerializeToString()
        )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(
            "google.api.servicecontrol.v1.ServiceController",
            {
                "Check": grpc_handler("Check", check_cls, answer_check),
                "Report": grpc_handler("Report", report_cls, answer_report),
            },
        ),
    ))
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    RUNNING.append(server)  # a collected grpc.Server stops serving

    class Rest(BaseHTTPRequestHandler):
        def do_POST(self):
            import re

            match = re.fullmatch(r"/v1/services/([^/:]+):(check|report)", self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not match:
                return self._send(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
            method = match.group(2)
            cls = check_cls if method == "check" else report_cls
            try:
                req = json_format.Parse(body.decode() or "{}", cls())
            except json_format.ParseError as e:
                return self._send(400, {"error": {"code": 400, "message": str(e), "status": "INVALID_ARGUMENT"}})
            req.service_name = match.group(1)
            record("rest", method.capitalize(), req)
            answer = answer_check(req) if method == "check" else answer_report(req)
            self._send(200, json_format.MessageToDict(answer))

        def _send(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args):
            pass

    http_server = ThreadingHTTPServer(("127.0.0.1", 0), Rest)
    RUNNING.append(http_server)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    return {"grpc_port": grpc_port, "http_port": http_server.server_address[1]}


def served(_request):
    return {"served": SERVED}


GAPIC_CLIENTS = {}

GAPIC_CALLS = {
    "check": ("ServiceControllerClient", "check", "CheckRequest"),
    "report": ("ServiceControllerClient", "report", "ReportRequest"),
    "allocateQuota": ("QuotaControllerClient", "allocate_quota", "AllocateQuotaRequest"),
}


def gapic(request):
    from google.api_core import exceptions
    from google.auth import credentials

    class FixedToken(credentials.Credentials):
        """A token that refreshing gives again: the session's retry after a
        401 sends the same token, so the 401 reaches the caller."""

        def __init__(self, token):
            super().__init__()
            self.token = token

        def refresh(self, _request):
            pass


    client_class, method, request_class = GAPIC_CALLS[request["method"]]
    key = (request["url"], request.get("token"), client_class)
    if key not in GAPIC_CLIENTS:
        GAPIC_CLIENTS[key] = getattr(servicecontrol_v1, client_class)(
            transport="rest",
            credentials=FixedToken(request["token"]),
            client_options={"api_endpoint": request["url"]},
        )
    client = GAPIC_CLIENTS[key]
    message = getattr(servicecontrol_v1, request_class).from_json(json.dumps(request["request"]))
    try:
        response = getattr(client, method)(request=message)
    except exceptions.GoogleAPICallError as e:
        return {
            "exception": type(e).__name__,
            "httpStatus": e.code,
            "message": e.message,
            "details": [
                json_format.MessageToDict(d) if hasattr(d, "DESCRIPTOR") else d
                for d in e.details
            ],
        }
    return {"response": json.loads(json_format.MessageToJson(type(response).pb(response)))}


HANDLERS = {
    "gapic": gapic,
    "describe": lambda r: describe(r["types"]),
    "describe_service": lambda r: describe_service(r["service"]),
    "roundtrip": roundtrip,
    "parse_json": parse_json,
    "to_json": to_json,
    "grpc_call": grpc_call,
    "http_post": http_post,
    "http_proto": http_proto,
    "mask": mask,
    "service_yaml": service_yaml,
    "start_servers": start_servers,
    "served": served,
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
