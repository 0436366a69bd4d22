variable "project" {
  description = "The project everything is created in (Firestore, Pub/Sub, functions, Vertex AI jobs)."
  type        = string
}

variable "region" {
  description = "Where the functions, the Firestore database and Vertex AI jobs are."
  type        = string
  default     = "us-central1"
}

variable "name" {
  description = "Prefix of every resource's name (several launchq stacks can share a project)."
  type        = string
  default     = "launchq"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "name: a lower-case letter, then up to 19 lower-case letters, digits or hyphens."
  }
}

variable "firestore_database" {
  description = "The Firestore (native mode) database this stack creates and uses."
  type        = string
  default     = "launchq"
}

variable "collection_prefix" {
  description = "launchq's collections are <prefix>_<kind> (runs, events, jobs, ...)."
  type        = string
  default     = "launchq"
}

variable "targets" {
  description = "The targets queues may name: vertex, kubernetes (GKE clusters a queue names)."
  type        = list(string)
  default     = ["vertex"]
  validation {
    condition     = length(var.targets) > 0 && alltrue([for t in var.targets : contains(["vertex", "kubernetes"], t)])
    error_message = "targets: one or more of vertex, kubernetes."
  }
}

variable "source_dir" {
  description = "The functions' staged source: the output of `python infra/gcp/package.py`."
  type        = string
  default     = "../../build/gcp-functions"
}

variable "entity" {
  description = "The W&B entity of queues created without one (WANDB_ENTITY in their runs)."
  type        = string
  default     = "local"
}

variable "api_invokers" {
  description = "Principals that may call the HTTP API (roles/run.invoker), e.g. user:me@example.com or group:ml@example.com. Empty: nobody but the project's owners."
  type        = list(string)
  default     = []
}

variable "image_repository" {
  description = "Build images from code (Kaniko) into this Artifact Registry repository id; empty: prebuilt images only (runs name docker_image)."
  type        = string
  default     = ""
}

variable "build_cluster" {
  description = "The GKE cluster Kaniko builds on, <location>/<cluster> (needed with image_repository)."
  type        = string
  default     = ""
}

variable "dispatcher_max_instances" {
  description = "At most this many dispatcher instances at once (as the AWS stack's DispatcherConcurrency)."
  type        = number
  default     = 2
}

variable "events_max_instances" {
  description = "At most this many target_events instances at once (Vertex AI job state changes)."
  type        = number
  default     = 2
}

variable "api_max_instances" {
  description = "At most this many API instances at once."
  type        = number
  default     = 10
}

variable "kms_key" {
  description = "A Cloud KMS key for the Pub/Sub topics (projects/P/locations/L/keyRings/R/cryptoKeys/K); empty: Google-managed keys."
  type        = string
  default     = ""
}

variable "code_retention_days" {
  description = "Uploaded code (launchq code push) is deleted this many days after its first upload; 0 keeps it for good."
  type        = number
  default     = 90
  validation {
    condition     = var.code_retention_days >= 0
    error_message = "code_retention_days: 0 (keep) or more days."
  }
}

variable "log_retention_days" {
  description = "How long bucket access logs are kept."
  type        = number
  default     = 365
}
