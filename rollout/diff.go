package rollout

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/posture-dev/posture/policy"
)

// Change is what a step does to one policy object.
type Change struct {
	Name   string
	Action string // create, update, delete
	// Diff is a line diff of the object's YAML ("-", "+" and " " lines;
	// unchanged runs longer than a few lines are elided).
	Diff string
}

// Changes lists, by object name, what moving the namespace from snapshot
// a to snapshot b changes.
func Changes(p *NamespacePlan, a, b Snapshot) ([]Change, error) {
	before, after := map[string]*policy.Policy{}, map[string]*policy.Policy{}
	for _, x := range Desired(p, a) {
		before[x.Metadata.Name] = x
	}
	var out []Change
	for _, y := range Desired(p, b) {
		after[y.Metadata.Name] = y
		x, ok := before[y.Metadata.Name]
		yb, err := policy.Marshal([]*policy.Policy{y})
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, Change{Name: y.Metadata.Name, Action: "create", Diff: prefixLines(string(yb), "+ ")})
			continue
		}
		xb, err := policy.Marshal([]*policy.Policy{x})
		if err != nil {
			return nil, err
		}
		if string(xb) != string(yb) {
			out = append(out, Change{Name: y.Metadata.Name, Action: "update", Diff: lineDiff(string(xb), string(yb))})
		}
	}
	for _, x := range Desired(p, a) {
		if _, ok := after[x.Metadata.Name]; !ok {
			xb, err := policy.Marshal([]*policy.Policy{x})
			if err != nil {
				return nil, err
			}
			out = append(out, Change{Name: x.Metadata.Name, Action: "delete", Diff: prefixLines(string(xb), "- ")})
		}
	}
	return out, nil
}

func prefixLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// lineDiff is a longest-common-subsequence diff of two short texts with
// three lines of context around each change.
func lineDiff(a, b string) string {
	x := strings.Split(strings.TrimRight(a, "\n"), "\n")
	y := strings.Split(strings.TrimRight(b, "\n"), "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ls []line
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ls = append(ls, line{' ', x[i]})
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ls = append(ls, line{'+', y[j]})
			j++
		default:
			ls = append(ls, line{'-', x[i]})
			i++
		}
	}
	const ctx = 3
	near := make([]bool, len(ls))
	for k, l := range ls {
		if l.op != ' ' {
			for d := max(0, k-ctx); d <= min(len(ls)-1, k+ctx); d++ {
				near[d] = true
			}
		}
	}
	var sb strings.Builder
	skipped := 0
	for k, l := range ls {
		if !near[k] {
			skipped++
			continue
		}
		if skipped > 0 {
			fmt.Fprintf(&sb, "  … %d unchanged lines\n", skipped)
			skipped = 0
		}
		fmt.Fprintf(&sb, "%c %s\n", l.op, l.text)
	}
	return sb.String()
}

// Drift compares the namespace's live posture-owned policies with what
// posture applied for its recorded state: objects someone else also edited
// (a promotion will refuse them without --force) and objects deleted by
// hand (a promotion will recreate them).
func Drift(ctx context.Context, c dynamic.Interface, p *NamespacePlan, s Snapshot) ([]string, error) {
	l, err := c.Resource(CNPResource).Namespace(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue})
	if err != nil {
		return nil, clusterError("listing ciliumnetworkpolicies in "+p.Namespace, err)
	}
	live := map[string]bool{}
	var out []string
	for _, u := range l.Items {
		live[u.GetName()] = true
		if who := foreignSpecManagers(&u); len(who) > 0 {
			out = append(out, fmt.Sprintf("ciliumnetworkpolicy/%s was also edited by %s: promote and rollback refuse to overwrite it without --force", u.GetName(), strings.Join(who, ", ")))
		}
	}
	for _, d := range Desired(p, s) {
		if !live[d.Metadata.Name] {
			out = append(out, fmt.Sprintf("ciliumnetworkpolicy/%s is missing (deleted by hand?): the next step recreates it", d.Metadata.Name))
		}
	}
	return out, nil
}
