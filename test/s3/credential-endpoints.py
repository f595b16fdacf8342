#!/usr/bin/python3
"""The credential endpoints of the AWS SDKs' chain, as small as their protocols, for
pgbk's tests: STS AssumeRoleWithWebIdentity (POST /sts), the container credential
endpoint (GET /container, with an Authorization token) and IMDSv2 (PUT
/latest/api/token, then GET /latest/meta-data/iam/security-credentials/[role]).

  credential-endpoints.py ACCESS_KEY SECRET_KEY LIFETIME_SECONDS

Listens on a free loopback port and prints it on the first line. Every answer hands
out ACCESS_KEY/SECRET_KEY (no session token, so a store with static keys accepts
them) expiring LIFETIME_SECONDS later; GET /count says how many were handed out.
Requests that break the protocol (no token, wrong token, missing form fields) get
400/401, as the real endpoints answer.
"""
import datetime
import http.server
import sys
import urllib.parse

ACCESS, SECRET, LIFETIME = sys.argv[1], sys.argv[2], int(sys.argv[3])
CONTAINER_TOKEN = "container-authorization-token"
IMDS_TOKEN = "imds-session-token"
ROLE = "pgbk-test-role"
issued = 0


def expiration():
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=LIFETIME)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def creds_json(self):
        global issued
        issued += 1
        return ('{"Code": "Success", "AccessKeyId": "%s", "SecretAccessKey": "%s", "Token": "", '
                '"Expiration": "%s"}' % (ACCESS, SECRET, expiration()))

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(200, IMDS_TOKEN, "text/plain")
        self.reply(400, "bad token request", "text/plain")

    def do_GET(self):
        if self.path == "/count":
            return self.reply(200, str(issued), "text/plain")
        if self.path == "/container":
            if self.headers.get("Authorization") != CONTAINER_TOKEN:
                return self.reply(401, '{"Message": "bad authorization token"}')
            return self.reply(200, self.creds_json())
        if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                return self.reply(401, "", "text/plain")
            role = self.path[len("/latest/meta-data/iam/security-credentials/"):]
            if role == "":
                return self.reply(200, ROLE + "\n", "text/plain")
            if role != ROLE:
                return self.reply(404, "", "text/plain")
            return self.reply(200, self.creds_json())
        self.reply(404, "", "text/plain")

    def do_POST(self):
        global issued
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        if (self.path != "/sts/" or form.get("Action") != ["AssumeRoleWithWebIdentity"]
                or not form.get("RoleArn") or not form.get("RoleSessionName")
                or form.get("WebIdentityToken") != ["the-projected-service-account-token"]):
            return self.reply(400, "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                              "<Message>bad request</Message></Error></ErrorResponse>", "text/xml")
        issued += 1
        self.reply(200, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                   "<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken></SessionToken>"
                   "<Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
                   "</AssumeRoleWithWebIdentityResponse>" % (ACCESS, SECRET, expiration()), "text/xml")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
