package wechattest

// CodeAPIUnauthorized is WeChat's errcode for an API the account type may
// not call ("api unauthorized"); the simulator answers it to getticket for
// a mini-program.
const CodeAPIUnauthorized = 48001

// AddMiniProgram registers a mini-program (or mini-game). Its access_token
// comes from stable_token (and the legacy /cgi-bin/token) exactly as an
// Official Account's, with the same rotation, force budget, errcodes, faults
// and oracle; JS-SDK tickets do not exist for it, so getticket answers
// CodeAPIUnauthorized. Calling it for an appid registered with AddApp makes
// that app a mini-program and sets its secret.
func (s *Simulator) AddMiniProgram(appid, secret string) {
	s.AddApp(appid, secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appid].miniProgram = true
}
