{{/* Names and labels shared by every object of a release. */}}

{{- define "mcpfleet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mcpfleet.gateway" -}}
{{- printf "%s-gateway" (include "mcpfleet.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A server's Deployment and Service: <fullname>-mcp-<name>, `_` becoming `-` (a DNS label). */}}
{{- define "mcpfleet.server" -}}
{{- printf "%s-mcp-%s" (include "mcpfleet.fullname" .root) (.name | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcpfleet.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "mcpfleet.sessionSecretName" -}}
{{- .Values.gateway.sessionSecret.existingSecret | default (printf "%s-session" (include "mcpfleet.fullname" .)) -}}
{{- end -}}

{{- define "mcpfleet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: mcpfleet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "mcpfleet.gatewaySelector" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "mcpfleet.serverSelector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: server
mcpfleet/server: {{ .name | replace "_" "-" }}
{{- end -}}

{{/* True when a server runs in pods of its own (everything but remote servers). */}}
{{- define "mcpfleet.bridged" -}}
{{- if ne (.package.type | default "") "remote" }}true{{ end -}}
{{- end -}}

{{/* Environment entries from a map VAR: {secret: NAME, key: KEY}. */}}
{{- define "mcpfleet.secretEnv" -}}
{{- range $var, $ref := . }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secret }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* The keys of a server's values that are the chart's, not the fleet file's. */}}
{{- define "mcpfleet.serverSpec" -}}
{{- toYaml (omit . "replicas" "resources" "secretEnv") -}}
{{- end -}}

{{- define "mcpfleet.probes" -}}
# The first start installs the server's package: five minutes before liveness counts.
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{- define "mcpfleet.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
