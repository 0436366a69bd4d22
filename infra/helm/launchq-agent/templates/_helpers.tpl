{{/*
Names and labels shared by every template. The release name is the object name (cut to 63
characters: a Deployment's pods carry it in labels), so two releases never collide.
*/}}
{{- define "launchq-agent.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where the agent and its own objects live: `namespace`, else the release's (helm -n). */}}
{{- define "launchq-agent.namespace" -}}
{{- .Values.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "launchq-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "launchq-agent.labels" -}}
{{ include "launchq-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The launchq control plane the agent pulls its runs from (`launchq agent --url`): baseUrl,
unless it is empty or W&B's own API (W&B's values files carry https://api.wandb.ai, which serves
no launchq queues: the agent then keeps its own store, as without baseUrl). Stops the render
where the CLI would refuse to start, so that a bad value is a failed install, not a crash loop. */}}
{{- define "launchq-agent.controlPlane" -}}
{{- $url := .Values.baseUrl | default "" | trim -}}
{{- if $url -}}
{{- $parsed := urlParse $url -}}
{{- $host := $parsed.hostname | lower -}}
{{- if not (regexMatch "(^|\\.)wandb\\.(ai|io)$" $host) -}}
{{- if $parsed.userinfo -}}
{{- fail "baseUrl: credentials in the URL would be a plain value in the Deployment: put the key in agent.apiKey" -}}
{{- end -}}
{{- $loopback := or (eq $host "localhost") (hasSuffix ".localhost" $host) (eq $host "::1") (hasPrefix "127." $host) -}}
{{- if and (eq $parsed.scheme "http") (not $loopback) (.Values.agent.apiKey | default "" | trim) -}}
{{- fail (printf "baseUrl: agent.apiKey is sent only over https (plain http only to a loopback host), not to %s" $url) -}}
{{- end -}}
{{- $url -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The variable agent.apiKey reaches the agent as: the control plane's bearer token when
baseUrl names one, else W&B's name for it (kept as before; unused by launchq's own store). */}}
{{- define "launchq-agent.apiKeyEnv" -}}
{{- if include "launchq-agent.controlPlane" . }}LAUNCHQ_API_KEY{{ else }}WANDB_API_KEY{{ end -}}
{{- end -}}

{{/* Every namespace the agent launches into, its own first, each once (as JSON: fromJsonArray). */}}
{{- define "launchq-agent.targetNamespaces" -}}
{{- prepend (.Values.additionalTargetNamespaces | default list) (include "launchq-agent.namespace" .) | uniq | toJson -}}
{{- end -}}

{{/* launch-config.yaml: W&B's docs give it as text; a mapping is written out as YAML; unset,
one local queue "default" with prebuilt images only (values.yaml says the same). */}}
{{- define "launchq-agent.launchConfig" -}}
{{- if not .Values.launchConfig -}}
max_jobs: 1
queues:
  - default
builder:
  type: noop
{{- else if kindIs "string" .Values.launchConfig -}}
{{ .Values.launchConfig }}
{{- else -}}
{{ .Values.launchConfig | toYaml }}
{{- end -}}
{{- end -}}

{{/* additionalEnvVars / additionalSecretEnvVars: a list of {name, value} (W&B's chart) or a
mapping NAME: value, as a JSON list of {name, value} (fromJsonArray). */}}
{{- define "launchq-agent.envPairs" -}}
{{- $pairs := list -}}
{{- if kindIs "map" . -}}
{{- range $name, $value := . }}{{ $pairs = append $pairs (dict "name" $name "value" (toString $value)) }}{{ end -}}
{{- else -}}
{{- range . }}{{ $pairs = append $pairs (dict "name" .name "value" (toString .value)) }}{{ end -}}
{{- end -}}
{{- toJson $pairs -}}
{{- end -}}

{{/* Secret values that are set (blank text counts as unset: W&B's defaults are '' and '|'),
and each additionalSecretEnvVars entry under "env.NAME". */}}
{{- define "launchq-agent.secretData" -}}
{{- $data := dict -}}
{{- with .Values.agent.apiKey | default "" | trim }}{{ $_ := set $data "api-key" . }}{{ end -}}
{{- with .Values.azureStorageAccessKey | default "" | trim }}{{ $_ := set $data "azure-storage-access-key" . }}{{ end -}}
{{- if .Values.gitCreds | default "" | trim }}{{ $_ := set $data "git-credentials" .Values.gitCreds }}{{ end -}}
{{- range include "launchq-agent.envPairs" (.Values.additionalSecretEnvVars | default list) | fromJsonArray -}}
{{- $_ := set $data (printf "env.%s" .name) .value -}}
{{- end -}}
{{- toJson $data -}}
{{- end -}}

{{/* W&B keys that are set but mean nothing for launchq (yet), named in NOTES.txt. */}}
{{- define "launchq-agent.ignored" -}}
{{- $ignored := list -}}
{{- if not (kindIs "invalid" .Values.agent.minAvailable) }}{{ $ignored = append $ignored "agent.minAvailable" }}{{ end -}}
{{- if .Values.agent.useExternalWandbSecret }}{{ $ignored = append $ignored "agent.useExternalWandbSecret" }}{{ end -}}
{{- if .Values.sshAuthSecrets }}{{ $ignored = append $ignored "sshAuthSecrets" }}{{ end -}}
{{- if .Values.kanikoPvcName }}{{ $ignored = append $ignored "kanikoPvcName" }}{{ end -}}
{{- if .Values.kanikoDockerConfigSecret }}{{ $ignored = append $ignored "kanikoDockerConfigSecret" }}{{ end -}}
{{- toJson $ignored -}}
{{- end -}}

{{/* Stops the render when additionalEnvVars / additionalSecretEnvVars name a variable twice,
or one the chart sets itself (Kubernetes would silently keep the last one). */}}
{{- define "launchq-agent.checkEnv" -}}
{{- $seen := dict -}}
{{- range list "HOME" "PYTHONDONTWRITEBYTECODE" "LAUNCHQ_DATA_DIR" "LAUNCHQ_START_TIMEOUT_SECONDS" "WANDB_API_KEY" "AZURE_STORAGE_ACCESS_KEY" "GIT_CONFIG_COUNT" "GIT_CONFIG_KEY_0" "GIT_CONFIG_VALUE_0" "SSL_CERT_FILE" "REQUESTS_CA_BUNDLE" "AWS_CA_BUNDLE" "GIT_SSL_CAINFO" -}}
{{- $_ := set $seen . "the chart" -}}
{{- end -}}
{{- $_ := set $seen "LAUNCHQ_URL" "the chart (baseUrl)" -}}
{{- $_ := set $seen "LAUNCHQ_API_KEY" "the chart (agent.apiKey)" -}}
{{- range $key := list "additionalEnvVars" "additionalSecretEnvVars" -}}
{{- range include "launchq-agent.envPairs" (get $.Values $key | default list) | fromJsonArray -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "%s: %s is already set by %s" $key .name (get $seen .name)) -}}
{{- end -}}
{{- $_ := set $seen .name $key -}}
{{- end -}}
{{- end -}}
{{- end -}}
