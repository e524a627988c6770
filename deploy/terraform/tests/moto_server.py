#!/usr/bin/env python3
"""moto's AWS emulator, seeded for deploy/terraform (run by scripts/check-terraform.sh).

Runs moto's server (the same WSGI app as `moto_server`) on 127.0.0.1 and adds
what the configuration reads from AWS that moto does not have:

  - Canonical's public SSM parameters for the Ubuntu 24.04 AMI
    (/aws/service/canonical/...): moto ships only the Amazon Linux ones and
    refuses to create /aws/* names through the API, so they are written into
    its SSM backend, pointing at an image registered in moto's EC2;
  - the CloudFront managed policies (Managed-CachingDisabled,
    Managed-CachingOptimized, Managed-AllViewerAndCloudFrontHeaders-2022-06,
    Managed-SecurityHeadersPolicy): moto has no cache, origin request or
    response headers policy API at all, so List/Get of these four are
    answered here with AWS's real IDs and settings (read-only stub);
  - a public Route 53 hosted zone for the domain of the full-mode plan;
  - a fix to moto 5.2.5's check of a log bucket's policy for S3 access logging,
    which assumes every statement's Principal is an object and fails with a 500
    (retried by the provider for ever) on `"Principal": "*"`, which AWS accepts
    and our log bucket's deny-insecure-transport statement uses;
  - bucket policies: moto ignores conditions, so a "Deny s3:* unless
    aws:SecureTransport" statement (ours) would deny every object request;
    statements whose only condition is aws:SecureTransport = false are left
    out when moto evaluates them (this server speaks only HTTPS, so the
    condition never holds);
  - lifecycle rules keep NoncurrentVersionExpiration.NewerNoncurrentVersions
    (moto drops it, and the provider waits for the rule it wrote to read back);
  - every RDS instance gets its own DbiResourceId (moto gives all the same
    one, so the provider's lookup by resource id finds two instances).

  - instance refresh (moto 5.2.5 has no StartInstanceRefresh at all): a
    recording fake of Start/Describe/Cancel/RollbackInstanceRefresh. A start
    is recorded with every parameter (GET /_newsread/refreshes lists them)
    and finishes at once with the outcome set by POST
    /_newsread/refresh-outcome (Successful by default); on success the
    group takes the desired launch template version, as AWS does.

  - launch template versions as EC2 keeps them: CreateLaunchTemplateVersion
    with SourceVersion starts from that version's data (moto ignores it and
    stores only the given fields), DeleteLaunchTemplateVersions (moto has
    none) removes versions, and version numbers are never reused.

  - CodeBuild projects of source and artifacts type CODEPIPELINE without a
    location, as AWS accepts them (moto 5.2.5 requires a location).

  - CodePipeline metadata timestamps as epoch seconds (moto 5.2.5 answers
    ISO strings, which the JSON protocol's clients refuse to decode).

It serves HTTPS (a throwaway self-signed certificate; the provider runs with
insecure = true): moto evaluates bucket policies, and the buckets deny
aws:SecureTransport = false, as they should. AWS managed IAM policies are
loaded (MOTO_IAM_LOAD_MANAGED_POLICIES) for the RDS monitoring role.

Writes {"endpoint", "ami_id", "zone_id"} as JSON to --ready-file once it
serves, then serves until SIGTERM.
"""

import argparse
import datetime
import json
import os
import signal
import sys
import threading

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")

import boto3
import urllib3
from moto.ec2.models import ec2_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.models import FakeBucket
from moto.ssm.models import Parameter, ssm_backends
from werkzeug.serving import make_server

ACCOUNT = "123456789012"
NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"
WHEN = "2024-01-01T00:00:00.000Z"

# AWS's managed CloudFront policies: the IDs are the same in every account.
CACHE_POLICIES = {
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": ("Managed-CachingDisabled", 0, 0, 0, "none", "none", "none", False),
    "658327ea-f89d-4fab-a63d-7e88639e58f6": ("Managed-CachingOptimized", 86400, 31536000, 1, "none", "none", "none", True),
}
ORIGIN_REQUEST_POLICIES = {
    "33f36d7e-f396-46d9-90e0-52428a34d9dc": ("Managed-AllViewerAndCloudFrontHeaders-2022-06", "allViewerAndWhitelistCloudFront", "all", "all",
                                              ["CloudFront-Viewer-Address", "CloudFront-Viewer-Country", "CloudFront-Is-Mobile-Viewer"]),
}
RESPONSE_HEADERS_POLICIES = {
    "67f7725c-6f97-4210-82d7-5512b31e9d03": "Managed-SecurityHeadersPolicy",
}


def cache_policy_xml(pid):
    name, default_ttl, max_ttl, min_ttl, cookies, headers, qs, compress = CACHE_POLICIES[pid]
    enc = "true" if compress else "false"
    return (
        "<CachePolicy><Id>%s</Id><LastModifiedTime>%s</LastModifiedTime><CachePolicyConfig>"
        "<Comment>AWS managed</Comment><Name>%s</Name><DefaultTTL>%d</DefaultTTL><MaxTTL>%d</MaxTTL><MinTTL>%d</MinTTL>"
        "<ParametersInCacheKeyAndForwardedToOrigin><EnableAcceptEncodingGzip>%s</EnableAcceptEncodingGzip>"
        "<EnableAcceptEncodingBrotli>%s</EnableAcceptEncodingBrotli>"
        "<HeadersConfig><HeaderBehavior>%s</HeaderBehavior></HeadersConfig>"
        "<CookiesConfig><CookieBehavior>%s</CookieBehavior></CookiesConfig>"
        "<QueryStringsConfig><QueryStringBehavior>%s</QueryStringBehavior></QueryStringsConfig>"
        "</ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig></CachePolicy>"
        % (pid, WHEN, name, default_ttl, max_ttl, min_ttl, enc, enc, headers, cookies, qs)
    )


def origin_request_policy_xml(pid):
    name, hb, cb, qb, headers = ORIGIN_REQUEST_POLICIES[pid]
    items = "".join("<Name>%s</Name>" % h for h in headers)
    return (
        "<OriginRequestPolicy><Id>%s</Id><LastModifiedTime>%s</LastModifiedTime><OriginRequestPolicyConfig>"
        "<Comment>AWS managed</Comment><Name>%s</Name>"
        "<HeadersConfig><HeaderBehavior>%s</HeaderBehavior><Headers><Quantity>%d</Quantity><Items>%s</Items></Headers></HeadersConfig>"
        "<CookiesConfig><CookieBehavior>%s</CookieBehavior></CookiesConfig>"
        "<QueryStringsConfig><QueryStringBehavior>%s</QueryStringBehavior></QueryStringsConfig>"
        "</OriginRequestPolicyConfig></OriginRequestPolicy>" % (pid, WHEN, name, hb, len(headers), items, cb, qb)
    )


def response_headers_policy_xml(pid):
    return (
        "<ResponseHeadersPolicy><Id>%s</Id><LastModifiedTime>%s</LastModifiedTime><ResponseHeadersPolicyConfig>"
        "<Comment>AWS managed</Comment><Name>%s</Name><SecurityHeadersConfig>"
        "<ContentTypeOptions><Override>false</Override></ContentTypeOptions>"
        "<FrameOptions><Override>false</Override><FrameOption>SAMEORIGIN</FrameOption></FrameOptions>"
        "<ReferrerPolicy><Override>false</Override><ReferrerPolicy>strict-origin-when-cross-origin</ReferrerPolicy></ReferrerPolicy>"
        "<StrictTransportSecurity><Override>false</Override><IncludeSubdomains>false</IncludeSubdomains><Preload>false</Preload>"
        "<AccessControlMaxAgeSec>31536000</AccessControlMaxAgeSec></StrictTransportSecurity>"
        "<XSSProtection><Override>false</Override><Protection>true</Protection><ModeBlock>true</ModeBlock></XSSProtection>"
        "</SecurityHeadersConfig></ResponseHeadersPolicyConfig></ResponseHeadersPolicy>"
        % (pid, WHEN, RESPONSE_HEADERS_POLICIES[pid])
    )


STUBS = {
    "cache-policy": ("CachePolicyList", "CachePolicySummary", CACHE_POLICIES, cache_policy_xml),
    "origin-request-policy": ("OriginRequestPolicyList", "OriginRequestPolicySummary", ORIGIN_REQUEST_POLICIES, origin_request_policy_xml),
    "response-headers-policy": ("ResponseHeadersPolicyList", "ResponseHeadersPolicySummary", RESPONSE_HEADERS_POLICIES, response_headers_policy_xml),
}


def cloudfront_policy_stub(environ):
    """(status, body) for a managed-policy List/Get, or None to pass to moto."""
    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    if len(parts) < 2 or parts[0] != "2020-05-31" or parts[1] not in STUBS or environ["REQUEST_METHOD"] != "GET":
        return None
    list_tag, summary_tag, table, render = STUBS[parts[1]]
    if len(parts) == 2:
        items = "".join("<%s><Type>managed</Type>%s</%s>" % (summary_tag, render(pid), summary_tag) for pid in table)
        return "200 OK", '<?xml version="1.0"?><%s xmlns="%s"><MaxItems>100</MaxItems><Quantity>%d</Quantity><Items>%s</Items></%s>' % (
            list_tag, NS, len(table), items, list_tag)
    pid = parts[2]
    if pid not in table:
        return "404 Not Found", '<?xml version="1.0"?><ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>NoSuch%s</Code><Message>not found</Message></Error></ErrorResponse>' % (
            NS, "".join(w.capitalize() for w in parts[1].split("-")))
    body = render(pid)
    # GET .../{id}/config returns only the *Config element; GET .../{id} the whole policy.
    return "200 OK", '<?xml version="1.0"?>' + body.replace("<%s>" % body[1:body.index(">")], '<%s xmlns="%s">' % (body[1:body.index(">")], NS), 1)


def tolerate_string_principals():
    """moto reads stmt["Principal"]["Service"] for every statement of the target
    bucket's policy; a statement whose Principal is the string "*" cannot grant
    the logging service anything, so it is left out of the check instead."""
    original = FakeBucket._log_permissions_enabled_policy

    def check(target_bucket, target_prefix):
        policy = target_bucket.policy
        if not policy:
            return original(target_bucket, target_prefix)
        doc = json.loads(policy.decode())
        doc["Statement"] = [s for s in doc.get("Statement", []) if isinstance(s.get("Principal", {}), dict)]
        saved = target_bucket.policy
        target_bucket.policy = json.dumps(doc).encode()
        try:
            return original(target_bucket, target_prefix)
        finally:
            target_bucket.policy = saved

    FakeBucket._log_permissions_enabled_policy = staticmethod(check)


def ignore_secure_transport_denials():
    original = FakeBucket.get_permission

    def insecure_only(stmt):
        cond = stmt.get("Condition") or {}
        values = (cond.get("Bool") or {}).get("aws:SecureTransport")
        values = values if isinstance(values, list) else [values]
        return list(cond) == ["Bool"] and list(cond["Bool"]) == ["aws:SecureTransport"] and values == ["false"]

    def get_permission(self, action, resource):
        if self.policy is None:
            return original(self, action, resource)
        doc = json.loads(self.policy.decode())
        doc["Statement"] = [s for s in doc.get("Statement", []) if not insecure_only(s)]
        saved = self.policy
        self.policy = json.dumps(doc).encode()
        try:
            return original(self, action, resource)
        finally:
            self.policy = saved

    FakeBucket.get_permission = get_permission


def keep_newer_noncurrent_versions():
    from moto.s3.responses import S3Response

    original_set = FakeBucket.set_lifecycle

    def set_lifecycle(self, rules):
        original_set(self, rules)
        for given, rule in zip(rules, self.rules):
            nve = given.get("NoncurrentVersionExpiration") or {}
            rule.nve_newer_versions = nve.get("NewerNoncurrentVersions")

    FakeBucket.set_lifecycle = set_lifecycle
    original_get = S3Response.get_bucket_lifecycle

    def get_bucket_lifecycle(self):
        response = original_get(self)
        status, headers, body = response
        bucket = self.backend.get_bucket(self.bucket_name)
        text = body.decode() if isinstance(body, bytes) else body
        pieces = text.split("</NoncurrentDays></NoncurrentVersionExpiration>")
        newer = [getattr(r, "nve_newer_versions", None) for r in bucket.rules if r.nve_noncurrent_days]
        if len(pieces) != len(newer) + 1:
            return response
        out = pieces[0]
        for n, rest in zip(newer, pieces[1:]):
            extra = f"</NoncurrentDays><NewerNoncurrentVersions>{n}</NewerNoncurrentVersions>" if n else "</NoncurrentDays>"
            out += extra + "</NoncurrentVersionExpiration>" + rest
        headers = dict(headers)
        headers.pop("Content-Length", None)
        headers.pop("content-length", None)
        return status, headers, out.encode() if isinstance(body, bytes) else out

    S3Response.get_bucket_lifecycle = get_bucket_lifecycle


def unique_db_resource_ids():
    """Derived from the instance identifier, so a read replica (a copy of its
    source in moto) gets its own too."""
    import hashlib

    from moto.rds.models import DBInstance

    def get(self):
        digest = hashlib.sha256(self.db_instance_identifier.encode()).hexdigest()
        return "db-" + digest[:26].upper()

    DBInstance.dbi_resource_id = property(get, lambda self, value: None)


REFRESHES = []
REFRESH_OUTCOME = ["Successful"]
AS_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


def refresh_fake(environ):
    """(status, content type, body) for the instance refresh calls and the
    fake's control paths, None for anything else (the body is put back)."""
    import io
    import urllib.parse
    import uuid

    path = environ.get("PATH_INFO", "")
    if path == "/_newsread/refreshes":
        return "200 OK", "application/json", json.dumps(REFRESHES)
    if path == "/_newsread/refresh-outcome":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        REFRESH_OUTCOME[0] = environ["wsgi.input"].read(size).decode().strip() or "Successful"
        return "200 OK", "text/plain", REFRESH_OUTCOME[0]
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if ("/autoscaling/" not in auth and "/ec2/" not in auth) or environ.get("REQUEST_METHOD") != "POST":
        return None
    size = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(size)
    environ["wsgi.input"] = io.BytesIO(raw)
    form = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
    action = form.get("Action")
    if "/ec2/" in auth:
        return delete_launch_template_versions(environ, form) if action == "DeleteLaunchTemplateVersions" else None
    if action not in ("StartInstanceRefresh", "DescribeInstanceRefreshes", "CancelInstanceRefresh", "RollbackInstanceRefresh"):
        return None

    def xml(inner):
        return "200 OK", "text/xml", '<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>' % (
            action, AS_NS, action, inner, action, uuid.uuid4(), action)

    name = form.get("AutoScalingGroupName", "")
    if action == "StartInstanceRefresh":
        from moto.autoscaling.models import autoscaling_backends
        refresh_id = str(uuid.uuid4())
        status = REFRESH_OUTCOME[0]
        record = {"InstanceRefreshId": refresh_id, "AutoScalingGroupName": name, "Status": status,
                  "Params": {k: v for k, v in form.items() if k not in ("Action", "Version")}}
        REFRESHES.append(record)
        group = None
        for region_backend in autoscaling_backends[ACCOUNT].values():
            group = region_backend.autoscaling_groups.get(name) or group
        version = form.get("DesiredConfiguration.LaunchTemplate.Version")
        if group is not None and version and status == "Successful":
            group.launch_template_version = version
            group.provided_launch_template_version = version
        return xml("<InstanceRefreshId>%s</InstanceRefreshId>" % refresh_id)
    if action == "DescribeInstanceRefreshes":
        wanted = {v for k, v in form.items() if k.startswith("InstanceRefreshIds.member.")}
        items = "".join(
            "<member><InstanceRefreshId>%s</InstanceRefreshId><AutoScalingGroupName>%s</AutoScalingGroupName>"
            "<Status>%s</Status><StatusReason>newsread moto fake</StatusReason><PercentageComplete>100</PercentageComplete>"
            "<InstancesToUpdate>0</InstancesToUpdate></member>" % (r["InstanceRefreshId"], r["AutoScalingGroupName"], r["Status"])
            for r in reversed(REFRESHES)
            if r["AutoScalingGroupName"] == name and (not wanted or r["InstanceRefreshId"] in wanted))
        return xml("<InstanceRefreshes>%s</InstanceRefreshes>" % items)
    return "400 Bad Request", "text/xml", (
        '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>ActiveInstanceRefreshNotFound</Code>'
        '<Message>No in-progress instance refresh (newsread moto fake)</Message></Error></ErrorResponse>' % AS_NS)


def launch_template_versions():
    import copy

    from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
    from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateVersion
    from moto.ec2.responses.launch_templates import LaunchTemplates

    def create_version(self, data, description):
        num = getattr(self, "_next_version", len(self.versions) + 1)
        version = LaunchTemplateVersion(self, num, data, description)
        self.versions.append(version)
        self._next_version = num + 1
        return version

    def get_version(self, num):
        text = str(num).lower()
        if text == "$latest":
            return self.versions[-1]
        if text == "$default":
            return self.default_version()
        for v in self.versions:
            if str(v.number) == str(num):
                return v
        raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)

    LaunchTemplate.create_version = create_version
    LaunchTemplate.get_version = get_version
    LaunchTemplate.default_version = lambda self: self.get_version(self.default_version_number)

    original = LaunchTemplates.create_launch_template_version

    def create_launch_template_version(self):
        source = self._get_param("SourceVersion")
        if not source:
            return original(self)
        name = self._get_param("LaunchTemplateName")
        tmpl_id = self._get_param("LaunchTemplateId")
        template = self.ec2_backend.get_launch_template(tmpl_id) if tmpl_id else self.ec2_backend.get_launch_template_by_name(name)
        data = copy.deepcopy(template.get_version(source).data)
        data.update(self._get_param("LaunchTemplateData", {}))
        version = template.create_version(data, self._get_param("VersionDescription"))
        from moto.core.responses import ActionResult
        return ActionResult({"LaunchTemplateVersion": {
            "CreateTime": version.create_time, "DefaultVersion": template.is_default(version),
            "LaunchTemplateData": version.data, "LaunchTemplateId": template.id,
            "LaunchTemplateName": template.name, "VersionDescription": version.description,
            "VersionNumber": version.number}})

    LaunchTemplates.create_launch_template_version = create_launch_template_version


def delete_launch_template_versions(environ, form):
    import uuid

    auth = environ.get("HTTP_AUTHORIZATION", "")
    region = auth.split("Credential=", 1)[-1].split("/")[2] if "Credential=" in auth else "eu-west-1"
    backend = ec2_backends[ACCOUNT][region]
    template = backend.get_launch_template(form["LaunchTemplateId"])
    wanted = {v for k, v in form.items() if k.startswith("LaunchTemplateVersion.")}
    done = []
    for v in list(template.versions):
        if str(v.number) in wanted and not template.is_default(v):
            template.versions.remove(v)
            done.append(v.number)
    items = "".join("<item><launchTemplateId>%s</launchTemplateId><launchTemplateName>%s</launchTemplateName>"
                    "<versionNumber>%d</versionNumber></item>" % (template.id, template.name, n) for n in done)
    return "200 OK", "text/xml", (
        '<DeleteLaunchTemplateVersionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>%s</requestId>'
        "<successfullyDeletedLaunchTemplateVersionSet>%s</successfullyDeletedLaunchTemplateVersionSet>"
        "<unsuccessfullyDeletedLaunchTemplateVersionSet/></DeleteLaunchTemplateVersionsResponse>" % (uuid.uuid4(), items))


def codepipeline_projects_need_no_location():
    import moto.codebuild.responses as cb

    for name in ("_validate_required_params_source", "_validate_required_params_artifacts"):
        original = getattr(cb, name)

        def check(spec, _original=original):
            if spec.get("type") == "CODEPIPELINE" and not spec.get("location"):
                return None
            return _original(spec)

        setattr(cb, name, check)


def codepipeline_epoch_timestamps():
    from moto.codepipeline.models import CodePipeline

    original = CodePipeline.metadata

    def metadata(self):
        data = dict(original.fget(self))
        data["created"] = self._created.timestamp()
        data["updated"] = self._updated.timestamp()
        return data

    CodePipeline.metadata = property(metadata)


def with_stubs(app):
    def wrapped(environ, start_response):
        fake = refresh_fake(environ)
        if fake is not None:
            status, ctype, body = fake
            data = body.encode()
            start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
            return [data]
        stub = cloudfront_policy_stub(environ)
        if stub is None:
            return app(environ, start_response)
        status, body = stub
        data = body.encode()
        start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(data))), ("ETag", "E1MANAGED")])
        return [data]

    return wrapped


def seed(endpoint, region, domain):
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing", verify=False)
    # An image to stand for Canonical's Ubuntu 24.04 (moto's RunInstances
    # needs the AMI to exist).
    ami = ec2.register_image(
        Name="ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101",
        Architecture="x86_64", RootDeviceName="/dev/sda1", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
    )["ImageId"]
    params = ssm_backends[ACCOUNT][region]._parameters
    for arch in ("amd64", "arm64"):
        name = "/aws/service/canonical/ubuntu/server/24.04/stable/current/%s/hvm/ebs-gp3/ami-id" % arch
        params[name].append(Parameter(
            account_id=ACCOUNT, name=name, value=ami, parameter_type="String", description=None,
            allowed_pattern=None, keyid=None, last_modified_date=datetime.datetime.now(datetime.timezone.utc),
            version=1, data_type="aws:ec2:image",
        ))
    r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing", verify=False)
    zone = r53.create_hosted_zone(Name=domain.split(".", 1)[1] + ".", CallerReference="newsread-check")
    return ami, zone["HostedZone"]["Id"].rsplit("/", 1)[-1]


def main():
    tolerate_string_principals()
    ignore_secure_transport_denials()
    keep_newer_noncurrent_versions()
    unique_db_resource_ids()
    launch_template_versions()
    codepipeline_projects_need_no_location()
    codepipeline_epoch_timestamps()
    urllib3.disable_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--domain", default="news.example.test")
    parser.add_argument("--ready-file", required=True)
    args = parser.parse_args()

    server = make_server("127.0.0.1", args.port, with_stubs(DomainDispatcherApplication(create_backend_app)),
                         threaded=True, ssl_context="adhoc")
    endpoint = "https://127.0.0.1:%d" % server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ami, zone = seed(endpoint, args.region, args.domain)
    with open(args.ready_file + ".tmp", "w") as f:
        json.dump({"endpoint": endpoint, "ami_id": ami, "zone_id": zone}, f)
    os.replace(args.ready_file + ".tmp", args.ready_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
