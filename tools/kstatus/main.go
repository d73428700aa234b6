// Command kstatus prints the verdict of sigs.k8s.io/cli-utils' kstatus library (what Flux and kubectl-based
// tooling use) for Kubernetes objects read as JSON on stdin: one object, a list, or a `kind: List`.
// Output: one JSON object per input object, in order: {"kind", "namespace", "name", "status", "message"}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

// objects decodes with apimachinery's JSON, which keeps integers int64 as unstructured accessors expect.
func objects(raw []byte) ([]map[string]interface{}, error) {
	var many []map[string]interface{}
	if err := kjson.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	var one map[string]interface{}
	if err := kjson.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	if items, ok := one["items"].([]interface{}); ok {
		for _, item := range items {
			if obj, ok := item.(map[string]interface{}); ok {
				many = append(many, obj)
			}
		}
		return many, nil
	}
	return []map[string]interface{}{one}, nil
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading stdin:", err)
		os.Exit(2)
	}
	objs, err := objects(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdin is not a JSON object or list:", err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, obj := range objs {
		u := &unstructured.Unstructured{Object: obj}
		result, err := status.Compute(u)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s %s: %v\n", u.GetKind(), u.GetName(), err)
			os.Exit(1)
		}
		_ = out.Encode(verdict{u.GetKind(), u.GetNamespace(), u.GetName(), string(result.Status), result.Message})
	}
}
