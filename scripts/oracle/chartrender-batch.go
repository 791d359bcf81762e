package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// CR_BATCH=1: read chart directories, one a line, on stdin; print one JSON line each with the
// raw template outputs ({"ok":{name:text}}) or the error ({"err":msg}).
func init() {
	if os.Getenv("CR_BATCH") == "" {
		return
	}
	caps, _ := buildCapabilities("v1.29.0", nil, false, true)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		dir := strings.TrimSpace(in.Text())
		res := batchOne(dir, caps)
		enc.Encode(res)
		out.Flush()
	}
	os.Exit(0)
}

func batchOne(dir string, caps *Capabilities) (res map[string]interface{}) {
	defer func() {
		if r := recover(); r != nil {
			res = map[string]interface{}{"panic": fmt.Sprint(r)}
		}
	}()
	c, err := LoadChart(dir)
	if err != nil {
		return map[string]interface{}{"err": "load: " + err.Error()}
	}
	user := map[string]interface{}{}
	if err := ProcessDependencies(c, user); err != nil {
		return map[string]interface{}{"err": err.Error()}
	}
	vals, err := CoalesceValues(c, user)
	if err != nil {
		return map[string]interface{}{"err": err.Error()}
	}
	top := ToRenderValues(c, vals, RenderOptions{ReleaseName: "release-name", Namespace: "default", Caps: caps})
	files, _, err := RenderChart(c, top)
	if err != nil {
		return map[string]interface{}{"err": err.Error()}
	}
	return map[string]interface{}{"ok": files}
}
