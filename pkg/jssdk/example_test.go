package jssdk_test

import (
	"fmt"

	"github.com/wxcentral/wxcentral/pkg/jssdk"
)

// The official example of the JS-SDK documentation.
func ExampleSign() {
	sig := jssdk.Sign("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		"Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value#ignored")
	fmt.Println(sig)
	// Output: 0f9de62fce790f9a083d5c99e95740ceb90c27ed
}
