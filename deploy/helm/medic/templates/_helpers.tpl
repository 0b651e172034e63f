{{/* Names, labels and the image reference shared by the medic chart's templates. */}}
{{- define "medic.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "medic.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "medic.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "medic.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "medic.temporalBlock" -}}
temporal {
  address   = {{ .Values.temporal.address | quote }}
  namespace = {{ .Values.temporal.namespace | quote }}
}
{{- end -}}

{{/* The executable unpacks its native addon into /tmp: an emptyDir, as the root fs is read-only. */}}
{{- define "medic.tmpVolume" -}}
- name: tmp
  emptyDir: { sizeLimit: 256Mi }
{{- end -}}
