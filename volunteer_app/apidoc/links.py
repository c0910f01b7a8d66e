"""Links between operations: an operation whose answer carries a resource (an order, an assignment …)
links to every operation that takes that resource's id in its path, so stateful fuzzing can walk from a
created order to its dispatch, cancel, events and so on.
"""

from __future__ import annotations

from collections.abc import Iterator

# Which response schema is which resource: (the path segment its operations hang under, the field that
# fills that segment's path parameter). Every operation whose path has `/<segment>/{param}` is linked
# from every answer that carries such a resource.
RESOURCES: dict[str, list[tuple[str, str]]] = {
    "OrderDetail": [("orders", "id")],
    "OrderOut": [("orders", "id")],
    "OrderSummary": [("orders", "id")],
    "AssignmentOut": [("assignments", "id")],
    "ActivityOut": [("activities", "id")],
    "ActivityDetail": [("activities", "id")],
    "SiteOut": [("sites", "id")],
    "SiteRef": [("sites", "id")],
    "TeamOut": [("teams", "id")],
    "CategoryOut": [("categories", "id")],
    "RewardOut": [("rewards", "id")],
    "RewardRef": [("rewards", "id")],
    "RedemptionOut": [("redemptions", "code")],
    "ApplicationOut": [("volunteer-applications", "id")],
    "ApplicationReviewOut": [("volunteer-applications", "id"), ("volunteers", "user_id")],
    "FamilyLinkOut": [("family-links", "id")],
    "FamilyLinkReviewOut": [("family-links", "id")],
    "CertificateSummary": [("certificates", "id")],
    "CertificateOut": [("certificates", "id"), ("verify", "verification_code")],
    "DeviceOut": [("devices", "id")],
    "DeliveryOut": [("notifications", "notification_id")],
    "RuleOut": [("service-day-rules", "id")],
    "TeamMemberOut": [("members", "user_id")],
    "TeamMemberCreated": [("members", "user_id")],
    "ManagerOut": [("managers", "user_id")],
    "JobOut": [("jobs", "id")],
    "GrantOut": [("managers", "user_id")],
    "IdNumberViewerOut": [("id-number-viewers", "user_id")],
    "SessionOut": [("sessions", "id")],
    "SupervisionItemOut": [("supervision-items", "id")],
    "SupervisionItemDetail": [("supervision-items", "id")],
    "FollowUpOut": [("follow-ups", "id")],
    "FollowUpDetail": [("follow-ups", "id")],
    "FollowUpOrderOut": [("orders", "id")],
    "HandoverOut": [("handovers", "id"), ("orders", "order_id")],
    "ComplaintOut": [("complaints", "id")],
    "ComplaintSummary": [("complaints", "id")],
    "AppealOut": [("appeals", "id")],
    "AppealDetail": [("appeals", "id")],
}


def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None


def _resource_pointers(schemas: dict, schema: dict, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(path segment, JSON pointer of the id) for each resource inside a response schema."""
    name = _ref_name(schema)
    if name is not None:
        for segment, field in RESOURCES.get(name, ()):
            yield segment, "/" + field
        schema = schemas.get(name, {})
    if depth >= 3:
        return
    for prop, sub in (schema.get("properties") or {}).items():
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            for found, pointer in _resource_pointers(schemas, sub["items"], depth + 1):
                yield found, f"/{prop}/0{pointer}"
        else:
            for found, pointer in _resource_pointers(schemas, sub, depth + 1):
                yield found, f"/{prop}{pointer}"


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _link_targets(paths: dict, segment: str) -> Iterator[tuple[str, str, dict, str]]:
    """(path, method, operation, parameter) of each operation keyed by `/<segment>/{parameter}`."""
    for path, item in paths.items():
        parts = path.split("/")
        for i, part in enumerate(parts[:-1]):
            if part == segment and parts[i + 1].startswith("{"):
                for method, operation in item.items():
                    if method != "parameters":
                        yield path, method, operation, parts[i + 1][1:-1]
                break


def add_links(paths: dict, schemas: dict) -> int:
    """Links from every 2xx answer carrying a resource to the operations on that resource. Returns how
    many links were written."""
    count = 0
    for source_path, item in paths.items():
        source_params = set(_path_parameters(source_path))
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2") or "content" not in response:
                    continue
                schema = response["content"].get("application/json", {}).get("schema", {})
                pointers: dict[str, str] = {}
                for segment, pointer in _resource_pointers(schemas, schema):
                    if segment not in pointers or len(pointer) < len(pointers[segment]):
                        pointers[segment] = pointer
                links = {}
                for segment, pointer in sorted(pointers.items()):
                    for path, target_method, target, parameter in _link_targets(paths, segment):
                        others = set(_path_parameters(path)) - {parameter}
                        if not others <= source_params or (path, target_method) == (source_path, method):
                            continue  # a parameter this answer cannot fill, or the operation itself
                        parameters = {parameter: f"$response.body#{pointer}"}
                        parameters |= {other: f"$request.path.{other}" for other in sorted(others)}
                        links[target["operationId"]] = {
                            "operationId": target["operationId"],
                            "parameters": parameters,
                        }
                if links:
                    response["links"] = links
                    count += len(links)
    return count
