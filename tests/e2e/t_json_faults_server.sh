#!/bin/sh
# The JSON schema check of t_json_faults.sh over the hostile-server cases
# (t_faults_server.sh), in a file of its own for the per-test time limit.
JSON_FAULTS=t_faults_server
. tests/e2e/t_json_faults.sh
