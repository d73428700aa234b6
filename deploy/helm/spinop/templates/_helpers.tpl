{{/*
Labels are written out in each template, exactly as deploy/base has them: the chart adds no labels of its own
(no helm.sh/chart, no managed-by), so its objects are the kustomize install's objects and either tool can take
over from the other.
*/}}

{{/* The operator image: by digest when one is given, else by tag (default: the chart's appVersion). */}}
{{- define "spinop.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* OperatorConfig's spinnaker_backend spelling of .Values.spinnaker.backend. */}}
{{- define "spinop.backend" -}}
{{- if eq .Values.spinnaker.backend "accountsApi" -}}accounts-api{{- else -}}{{ .Values.spinnaker.backend }}{{- end -}}
{{- end -}}

{{/* The subject every binding names: the operator's ServiceAccount. */}}
{{- define "spinop.subject" -}}
- kind: ServiceAccount
  name: spinop
  namespace: {{ .Values.namespaces.operator }}
{{- end -}}
